"""The section registry: registered sections appear in audit.json in order, and a section that does not apply or
fails is recorded in one of two shapes, the same in audit.json, the pages and the report."""
from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

import pytest

from auditkit.audit import run_audit, write_audit
from auditkit.data.spec import AuditSpec
from auditkit.errors import AuditkitError, DataValidationError, SettingsError
from auditkit.outcome import Failed, Skipped, outcome_of
from auditkit.report.content import build_content
from auditkit.sections import (DUPLICATE, NO_ENERGY, NO_MODEL, UNKNOWN, build_sections, register, registered,
                               unregister)
from tests.builders import tabular_frame

SPEC = AuditSpec(target="y", sensitive=("sex",), prediction_column="pred", score_column="score")


@dataclass(frozen=True)
class RowCount:
    rows: int
    positives: int

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "positives": self.positives}


class RowCountSection:
    """A section defined here, registered like the built-in ones."""

    name, phase = "row_count", "analysis"

    def applies(self, ctx) -> str | None:
        return None

    def build(self, ctx) -> RowCount:
        return RowCount(len(ctx.frame), int((ctx.y_pred == ctx.positive_label).sum()))


class NeedsText:
    name, phase = "needs_text", "analysis"

    def applies(self, ctx) -> str | None:
        return None if ctx.spec.text_column else "the audit has no text column; choose one with --text-column"

    def build(self, ctx) -> RowCount:
        pytest.fail("a section that does not apply is never built")


class Broken:
    name, phase = "broken", "analysis"

    def __init__(self, error: Exception):
        self.error = error

    def applies(self, ctx) -> str | None:
        return None

    def build(self, ctx) -> RowCount:
        raise self.error


@pytest.fixture
def data(tmp_path):
    frame = tabular_frame(200, seed=3)
    frame["pred"] = (frame.x1 > 0).astype(int)
    frame["score"] = 1 / (1 + 2.718281828 ** -frame.x1)
    path = tmp_path / "scored.csv"
    frame.to_csv(path, index=False)
    return path, frame


@pytest.fixture
def extra_sections():
    """Register sections for one test only."""
    added: list[str] = []

    def add(*sections):
        for section in sections:
            added.append(register(section).name)

    yield add
    for name in added:
        unregister(name)


def test_a_registered_section_is_written_to_audit_json_after_the_built_in_ones(data, tmp_path, extra_sections):
    path, frame = data
    extra_sections(RowCountSection())
    audit, _ = run_audit(path, SPEC)
    written = json.loads(write_audit(audit, tmp_path / "out").read_text())
    assert written["row_count"] == {"rows": 200, "positives": int((frame.x1 > 0).sum())}
    assert list(written) == ["inputs", "predictions", "fairness", "explanations", "privacy", "energy", "row_count"]
    assert written["energy"] == {"skipped": NO_ENERGY}  # predictions only: no model ran
    assert [s.name for s in registered()][-1] == "row_count"


def test_not_computed_and_failed_have_one_shape_each(data, extra_sections):
    path, _ = data
    extra_sections(NeedsText(), Broken(DataValidationError("column 'z' is empty. Fix: choose another column.")))
    audit, _ = run_audit(path, SPEC)
    assert audit["needs_text"] == {"skipped": "the audit has no text column; choose one with --text-column"}
    assert audit["broken"] == {"error": "column 'z' is empty. Fix: choose another column."}
    assert audit["explanations"] == {"skipped": NO_MODEL}  # predictions only: nothing to explain
    assert outcome_of(audit["needs_text"]) == Skipped("the audit has no text column; choose one with --text-column")
    assert outcome_of(audit["broken"]) == Failed("column 'z' is empty. Fix: choose another column.")
    assert outcome_of(audit["fairness"]) is None and outcome_of(audit["privacy"]) is None


def test_the_report_says_which_sections_were_skipped_or_failed(data, extra_sections):
    path, _ = data
    extra_sections(NeedsText(), Broken(AuditkitError("the cache is full. Fix: free disk space.")))
    audit, _ = run_audit(path, SPEC)
    paragraphs = {s.key: s.paragraphs for s in build_content(audit).sections}
    assert paragraphs["explanations"] == (f"Not computed: {NO_MODEL}",)
    assert paragraphs["needs_text"] == ("Not computed: the audit has no text column; choose one with --text-column",)
    assert paragraphs["broken"] == ("This panel could not run: the cache is full. Fix: free disk space.",)


def test_an_unexpected_error_is_not_hidden_in_the_section(data, extra_sections):
    path, _ = data
    extra_sections(Broken(ZeroDivisionError("bug")))
    with pytest.raises(ZeroDivisionError):
        run_audit(path, SPEC)


def test_sections_run_in_their_meter_phase(data, extra_sections):
    from auditkit.prepare import prepare

    path, _ = data
    extra_sections(RowCountSection())
    phases: list[str] = []

    class Meter:
        def phase(self, name):
            phases.append(name)
            return contextlib.nullcontext()

    ctx = prepare(path, SPEC)
    out = build_sections(ctx, ["fairness", "row_count"], meter=Meter())
    assert list(out) == ["fairness", "row_count"] and phases == ["analysis", "analysis"]


def test_registry_errors_name_the_problem():
    with pytest.raises(SettingsError) as dup:
        register(type("AnotherFairness", (RowCountSection,), {"name": "fairness"})())
    assert str(dup.value) == DUPLICATE.format("fairness")
    with pytest.raises(SettingsError) as unknown:
        build_sections(None, ["fairnes"])
    assert str(unknown.value) == UNKNOWN.format("fairnes", "fairness, explanations, privacy, energy")


def test_outcome_shapes_and_stored_audits():
    assert Skipped("why").to_dict() == {"skipped": "why"} and Failed("what").to_dict() == {"error": "what"}
    assert outcome_of({"method": None, "reason": "no model"}) == Skipped("no model")  # audits stored before
    assert outcome_of({"method": "deep", "reason": "x"}) is None
    assert outcome_of({"skipped": {"a": "b"}}) is None and outcome_of(None) is None


def test_energy_is_the_last_built_in_section_and_measures_the_sections_before_it(tmp_path):
    from tests.builders import tabular_model

    path = tmp_path / "d.csv"
    tabular_frame(200).to_csv(path, index=False)
    spec = AuditSpec(target="y", sensitive=("sex",), features=("x1", "x2"))
    audit, _ = run_audit(path, spec, model=tabular_model(tmp_path / "m.pt2"))
    assert [s.name for s in registered()][:4] == ["fairness", "explanations", "privacy", "energy"]
    phases = audit["energy"]["phases"]
    assert {"load", "inference", "analysis", "explanations"} <= set(phases)
    assert audit["energy"]["kwh"] == pytest.approx(sum(p["kwh"] for p in phases.values()))
