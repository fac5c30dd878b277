"""The engine extension point: where an audit's inference and counting run (in memory, streamed, on Ray).

An engine takes an `AuditJob` and returns an `EngineRun`: the context the panel sections read, the `predictions`
section, the sections it computed over every row itself, and its own `scale` section. `auditkit.audit.run_audit`
assembles audit.json from that in one place. `auditkit.engines` registers the built-in engines.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from auditkit.config import Settings
from auditkit.data.spec import AuditSpec
from auditkit.errors import SettingsError

DEFAULT_CHUNK_ROWS = 1_000_000

if TYPE_CHECKING:
    from auditkit.context import AuditContext
    from auditkit.families.handle import ModelHandle
    from auditkit.inference.runner import Progress


@dataclass(frozen=True)
class EngineSetting:
    """Which engine runs an audit, with its options: rows per chunk (streamed and Ray), Ray model workers and the
    Ray cluster's address. An engine refuses options it does not read."""

    name: str = "memory"
    chunk_rows: int | None = None
    workers: int | None = None
    address: str | None = None

    @classmethod
    def of(cls, value: "str | EngineSetting | None") -> "EngineSetting":
        """A setting from an engine name (or a setting, or None for the default)."""
        if isinstance(value, EngineSetting):
            return value
        return cls() if value is None else cls(name=str(value))

    def given(self) -> list[str]:
        """The options set in this setting."""
        return [f.name for f in fields(self) if f.name != "name" and getattr(self, f.name) is not None]


@dataclass(frozen=True)
class AuditJob:
    """Everything an engine needs: the data (a path or bytes), the spec, the model (in its worker) or None."""

    data: str | Path | bytes
    spec: AuditSpec
    model: "ModelHandle | None"
    model_path: str | Path | None
    settings: Settings
    setting: EngineSetting
    name: str = ""
    device: str | None = None
    batch_size: int | None = None
    progress: "Progress | None" = None
    allow_pickle_weights: bool = False
    data_sha256: str | None = None


@dataclass(frozen=True)
class EngineRun:
    """What an engine hands the pipeline.

    `ctx` is what the panel sections read (every row, or a seeded sample when `whole` is false); `inputs` overrides
    keys of the inputs section; `computed` holds sections the engine built over every row (never built again);
    `scale` is the engine's own section (None for the in-memory engine); `inferred` counts rows the model ran on.
    """

    ctx: "AuditContext"
    predictions: dict[str, Any]
    inferred: int
    whole: bool = True
    inputs: dict[str, Any] = field(default_factory=dict)
    computed: dict[str, Any] = field(default_factory=dict)
    scale: dict[str, Any] | None = None


class Engine(Protocol):
    name: str
    description: str  # shown by --help and on the Setup page
    options: tuple[str, ...]  # the EngineSetting options it reads

    def check(self, job: AuditJob) -> None:
        """Refuse inputs this engine cannot take, before anything is loaded."""

    def run(self, job: AuditJob) -> EngineRun:
        """Predict and count."""


_ENGINES: dict[str, Engine] = {}


def register(engine: Engine) -> Engine:
    """Add an engine under its name."""
    _ENGINES[engine.name] = engine
    return engine


def registered() -> dict[str, Engine]:
    """The registered engines by name, in registration order."""
    return dict(_ENGINES)


def engine_for(setting: EngineSetting) -> Engine:
    """The engine a setting names, after checking that it reads every option given."""
    if setting.name not in _ENGINES:
        raise SettingsError(f"unknown engine '{setting.name}'. Fix: choose one of {', '.join(_ENGINES)}.")
    engine = _ENGINES[setting.name]
    extra = [o for o in setting.given() if o not in engine.options]
    if extra:
        raise SettingsError(f"the {engine.name} engine has no option {', '.join(extra)}. "
                            f"Fix: drop it, or choose an engine that reads it ({', '.join(n for n, e in _ENGINES.items() if extra[0] in e.options)}).")
    return engine
