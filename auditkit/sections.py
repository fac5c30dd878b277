"""The panel sections of audit.json: registered section objects, built in the order they were registered.

A section has a `name` (its key in audit.json), the energy-meter `phase` it is measured in, `applies(ctx)` (None
when it applies to the audit, else the reason it is skipped) and `build(ctx)`, which returns a typed result whose
`to_dict()` is the section. A section that does not apply is recorded as `{"skipped": reason}`; one whose build
raises an `AuditkitError` as `{"error": message}` (`auditkit.outcome`), and the audit goes on.

Adding a section is one object and one call::

    class Drift:
        name, phase = "drift", "analysis"

        def applies(self, ctx):
            return None if ctx.y_score is not None else "needs scores"

        def build(self, ctx):
            return DriftReport.of(ctx)          # any object with to_dict()

    register(Drift())
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Protocol

from auditkit.errors import AuditkitError, SettingsError
from auditkit.outcome import Failed, Skipped

if TYPE_CHECKING:
    from auditkit.context import AuditContext

NO_MODEL = "no model was loaded; explanations need a model"
NO_ENERGY = "no model ran in this audit (its predictions came with the data), so there is no energy to measure"
ENERGY = ("energy",)  # where the pipeline keeps the run's energy on the context (`AuditContext.once`)
DUPLICATE = "A section named {0!r} is registered already; unregister it first or choose another name."
UNKNOWN = "Unknown section {0!r}; registered sections are {1}."


class SectionResult(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class Section(Protocol):
    """One panel's section of audit.json."""

    name: str
    phase: str | None  # the energy-meter phase its build is measured in (None: not measured)

    def applies(self, ctx: "AuditContext") -> str | None: ...

    def build(self, ctx: "AuditContext") -> SectionResult: ...


_SECTIONS: dict[str, Section] = {}


def register(section: Section) -> Section:
    """Add `section` after those registered before it; returns it."""
    if section.name in _SECTIONS:
        raise SettingsError(DUPLICATE.format(section.name))
    _SECTIONS[section.name] = section
    return section


def unregister(name: str) -> None:
    """Remove the section registered as `name`."""
    if name not in _SECTIONS:
        raise SettingsError(UNKNOWN.format(name, ", ".join(_SECTIONS)))
    del _SECTIONS[name]


def registered() -> tuple[Section, ...]:
    """Every registered section, in audit.json order."""
    return tuple(_SECTIONS.values())


def build_section(section: Section, ctx: "AuditContext", *, meter: Any = None) -> dict[str, Any]:
    """`section`'s audit.json entry: its result, `{"skipped": reason}` or `{"error": message}`; its build is
    measured as `section.phase` when an energy `meter` runs."""
    reason = section.applies(ctx)
    if reason is not None:
        return Skipped(reason).to_dict()
    try:
        with contextlib.nullcontext() if meter is None or section.phase is None else meter.phase(section.phase):
            return section.build(ctx).to_dict()
    except AuditkitError as e:
        return Failed(str(e)).to_dict()


def build_sections(ctx: "AuditContext", names: list[str] | None = None, *, meter: Any = None) -> dict[str, Any]:
    """The sections named (default: every registered one), in registration order; a section that cannot be built
    on this input records why instead of failing the audit."""
    if names is not None and (unknown := [n for n in names if n not in _SECTIONS]):
        raise SettingsError(UNKNOWN.format(unknown[0], ", ".join(_SECTIONS)))
    return {s.name: build_section(s, ctx, meter=meter) for s in registered() if names is None or s.name in names}


class FairnessSection:
    """Group metrics and disparities per sensitive attribute and their intersections."""

    name, phase = "fairness", "analysis"

    def applies(self, ctx: "AuditContext") -> str | None:
        return None

    def build(self, ctx: "AuditContext") -> SectionResult:
        from auditkit.fairness.section import fairness_report

        return fairness_report(ctx)


class ExplanationsSection:
    """SHAP attributions of the audit's model, with cross-checks."""

    name, phase = "explanations", "explanations"

    def applies(self, ctx: "AuditContext") -> str | None:
        return None if ctx.model is not None else NO_MODEL

    def build(self, ctx: "AuditContext") -> SectionResult:
        from auditkit.explain.section import audit_explanation

        return audit_explanation(ctx)


class PrivacySection:
    """Personal data, k-anonymity, membership inference and the DP record."""

    name, phase = "privacy", "analysis"

    def applies(self, ctx: "AuditContext") -> str | None:
        return None

    def build(self, ctx: "AuditContext") -> SectionResult:
        from auditkit.privacy.section import privacy_report

        return privacy_report(ctx)


class EnergySection:
    """Measured or estimated energy and CO2e of the run: loading, inference and the sections registered before it.

    The pipeline keeps the run's energy on the context under `ENERGY` (a callable giving the `EnergyResult`, read
    when this section is built, after the sections it measures); audits where no model ran have none.
    """

    name, phase = "energy", None

    def applies(self, ctx: "AuditContext") -> str | None:
        return None if ctx.recall(ENERGY) is not None else NO_ENERGY

    def build(self, ctx: "AuditContext") -> SectionResult:
        return ctx.recall(ENERGY)()


register(FairnessSection())
register(ExplanationsSection())
register(PrivacySection())
register(EnergySection())
