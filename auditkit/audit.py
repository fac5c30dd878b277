"""The audit pipeline: validated dataset + model in its worker -> cached predictions (an engine) -> panel sections
-> audit.json, assembled here and nowhere else."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator


from auditkit import strict_json
from auditkit.access import check_ray_address, current_principal, require
from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.energy.section import EnergyResult, energy_result, start_meter
from auditkit.engine_registry import AuditJob, EngineRun, EngineSetting
from auditkit.engines import engine_for
from auditkit.families.handle import ModelHandle
from auditkit.inference.runner import Progress
from auditkit.sections import ENERGY, build_sections
from auditkit.sections import registered as registered_sections
from auditkit.summary import inputs_section


@contextlib.contextmanager
def _phase(meter: Any, name: str) -> Iterator[None]:
    if meter is None:
        yield
    else:
        with meter.phase(name):
            yield


def _inference_energy(energy: dict[str, Any], ctx: AuditContext) -> dict[str, Any]:
    """Remember the inference energy per 1,000 predictions with the cached predictions; a run that read them from
    the cache (no inference) reports the figure measured when they were computed."""
    path = ctx.settings.path("cache", "energy") / f"{ctx.model.sha256}-{ctx.data_sha256}.json"
    interval = "kwh_per_1k_predictions_interval"  # present when the figure is an estimate
    if not ctx.cached and energy.get("kwh_per_1k_predictions") is not None:
        path.write_text(json.dumps({"kwh_per_1k_predictions": energy["kwh_per_1k_predictions"],
                                    interval: energy.get(interval),
                                    "measured": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
    elif ctx.cached and path.is_file():
        stored = json.loads(path.read_text())
        energy = {**energy, "kwh_per_1k_predictions": stored["kwh_per_1k_predictions"],
                  "kwh_per_1k_predictions_measured": stored["measured"]}
        if stored.get(interval):
            energy[interval] = stored[interval]
    return energy


def _energy(meter: Any, unavailable: dict | None, run: EngineRun) -> EnergyResult:
    """The run's energy section: the meter's report so far (the reading of cached predictions when the run did not
    infer), or why nothing could be measured."""
    if meter is None:
        return EnergyResult.from_dict(unavailable or {})
    energy = energy_result(meter.report()).to_dict()
    return EnergyResult.from_dict(_inference_energy(energy, run.ctx) if run.whole else energy)


def run_audit(data: str | Path | bytes, spec: AuditSpec, *, model: str | Path | ModelHandle | None = None,
              engine: str | EngineSetting | None = None, name: str = "", settings: Settings | None = None,
              device: str | None = None, batch_size: int | None = None, progress: Progress | None = None,
              allow_pickle_weights: bool = False, region: str = "USA",
              data_sha256: str | None = None, model_sha256: str | None = None) -> tuple[dict[str, Any], AuditContext]:
    """Run a whole audit; returns the audit.json dict and the context the panels read.

    `engine` names a registered engine, or is an `EngineSetting` with its options: "memory" (the default),
    "stream" (the file read in chunks of `chunk_rows` rows in bounded memory) or "ray" (inference and counting on
    the Ray cluster at `address`, default `$RAY_ADDRESS` else a local one, with `workers` model actors). The
    chunked engines give the same `predictions` and `fairness` as the in-memory one, build the other sections on a
    sample, and add a `scale` section (see docs/scale.md). When a model runs, its energy is measured per phase
    (load, inference, analysis, explanations) in `energy`, with CO2e for `region` (ISO 3166 alpha-3).
    `data_sha256` and `model_sha256`: the content hashes of `data` and of the checkpoint `model` names, when the
    caller has them already (they are not recomputed).

    The acting principal (`auditkit.access`) needs the role to run audits, and a page session may name only a Ray
    cluster the administrator allows; `AccessDenied` otherwise, before anything is read.
    """
    require(current_principal(), "run")
    setting = EngineSetting.of(engine)
    check_ray_address(setting.address)
    settings = settings or Settings.from_env()
    chosen = engine_for(setting)
    job = AuditJob(data, spec, model if isinstance(model, ModelHandle) else None,
                   model if isinstance(model, (str, Path)) else None, settings, setting, name=name, device=device,
                   batch_size=batch_size, progress=progress, allow_pickle_weights=allow_pickle_weights,
                   data_sha256=data_sha256)
    chosen.check(job)
    meter, unavailable = start_meter(region, idle_seconds=settings.idle_seconds) if model is not None else (None, None)
    try:
        with _phase(meter, "load"):
            if isinstance(model, (str, Path)):
                job = replace(job, model=load_model(model, allow_pickle_weights=allow_pickle_weights, settings=settings,
                                                    sha256=model_sha256))
        with _phase(meter, "inference"):
            run = chosen.run(job)
        if meter is not None:
            meter.set_predictions("inference", run.inferred)
        if model is not None:
            run.ctx.once(ENERGY, lambda: lambda: _energy(meter, unavailable, run))
        data_name = name or (Path(data).name if isinstance(data, (str, Path)) else "")
        audit: dict[str, Any] = {"inputs": {**inputs_section(run.ctx, data_name=data_name), **run.inputs},
                                 "predictions": run.predictions, **run.computed}
        audit.update(build_sections(run.ctx, [s.name for s in registered_sections() if s.name not in run.computed],
                                    meter=meter))
        if run.scale is not None:
            audit["scale"] = run.scale
    finally:
        if meter is not None:
            meter.close()
    return audit, run.ctx


def write_audit(audit: dict[str, Any], out_dir: str | Path) -> Path:
    """Write `out_dir/audit.json` atomically. It is strict JSON: a NaN or infinite number anywhere is written as
    `null` (JSON has no such numbers), never as a bare `NaN` or `Infinity`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "audit.json"
    text = strict_json.dumps(audit, indent=2)
    fd, tmp = tempfile.mkstemp(prefix=".audit-", dir=out)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return target
