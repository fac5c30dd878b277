"""The audit pipeline: validated dataset + safely loaded model -> cached predictions -> panel sections -> audit.json."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from auditkit.access import check_ray_address, current_principal, require
from auditkit.checkpoints.loader import load_model
from auditkit.families.handle import ModelHandle
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.io import read_table
from auditkit.data.spec import AuditSpec
from auditkit.data.validate import ValidatedDataset, validate_dataset
from auditkit.energy.section import build_section, start_meter
from auditkit.errors import DataValidationError
from auditkit.hashing import sha256_source
from auditkit.inference import cache
from auditkit.inference.device import resolve_device
from auditkit.inference.runner import Predictions, Progress, predict
from auditkit.sections import build_sections

SCHEMA_VERSION = 1
_LIBRARIES = ("torch", "transformers", "safetensors", "fairlearn", "shap", "opacus", "captum", "codecarbon",
              "scikit-learn", "numpy", "pandas", "pyarrow")


def load_dataset(source: str | Path | bytes, spec: AuditSpec, *, name: str = "", settings: Settings | None = None,
                 needs_features: bool = False) -> ValidatedDataset:
    """Read and validate a CSV, Parquet or JSONL dataset against `spec`."""
    return validate_dataset(read_table(source, name=name, settings=settings), spec, settings=settings,
                            needs_features=needs_features)


def label_map(model: ModelHandle, dataset: ValidatedDataset) -> list[str]:
    """The dataset label for each model output index."""
    classes, spec = list(dataset.classes), dataset.spec
    if model.n_classes != len(classes):
        raise DataValidationError(f"the model has {model.n_classes} classes but label '{spec.target}' has {len(classes)} "
                                  f"({', '.join(classes[:10])}). Fix: choose the label column this model was trained on.")
    names = list(model.class_names or ())
    if names and set(names) == set(classes):
        return names
    if model.n_outputs == 1:
        return [next(c for c in classes if c != spec.positive_label), spec.positive_label]
    if set(classes) == {str(i) for i in range(len(classes))}:
        return [str(i) for i in range(len(classes))]
    return classes


def run_predictions(model: ModelHandle, dataset: ValidatedDataset, data_sha256: str, *, settings: Settings,
                    device: str | None = None, batch_size: int | None = None,
                    progress: Progress | None = None) -> tuple[Predictions, bool]:
    """Predictions for the dataset, from the workspace cache when present; returns (predictions, cached)."""
    inputs, described = model.family.inputs(dataset.frame, dataset.spec, model.info)
    key = cache.cache_key(data_sha256=data_sha256, model_sha256=model.sha256, inputs=described,
                          device=str(resolve_device(device)))
    hit = cache.load_cached(key, settings)
    if hit is not None:
        return hit, True
    result = predict(model, inputs, batch_size=batch_size, device=device, progress=progress)
    cache.store(key, result, settings)
    return result, False


def prepare(data: str | Path | bytes, spec: AuditSpec, *, model: str | Path | ModelHandle | None = None, name: str = "",
            settings: Settings | None = None, device: str | None = None, batch_size: int | None = None,
            progress: Progress | None = None, allow_pickle_weights: bool = False,
            data_sha256: str | None = None) -> AuditContext:
    """Validate the data, load the model safely, and get (cached) predictions: everything the panels read.

    `data_sha256` is the content hash of `data` when the caller has computed it already (it is not recomputed).
    """
    settings = settings or Settings.from_env()
    if isinstance(model, (str, Path)):
        model = load_model(model, allow_pickle_weights=allow_pickle_weights, settings=settings)
    if model is None and not spec.prediction_column:
        raise DataValidationError("there is nothing to audit: no model and no prediction column. "
                                  "Fix: give a model checkpoint (--model), or the column holding the model's predictions (--prediction-column).")
    dataset = load_dataset(data, spec, name=name, settings=settings, needs_features=model is not None and model.family.input_role == "features")
    data_sha = data_sha256 or sha256_source(data)
    y_true = dataset.y_true
    if model is None:
        frame = dataset.frame
        y_pred = frame[dataset.spec.prediction_column].to_numpy(dtype=str)
        y_score = frame[dataset.spec.score_column].to_numpy(dtype=float) if dataset.spec.score_column else None
        return AuditContext(dataset.spec, frame, data_sha, y_true, y_pred, y_score, dataset.classes, settings,
                            warnings=dataset.warnings)
    labels = label_map(model, dataset)
    preds, cached = run_predictions(model, dataset, data_sha, settings=settings, device=device,
                                    batch_size=batch_size, progress=progress)
    y_pred = np.asarray(labels, dtype=object)[preds.indices].astype(str)
    y_score = preds.probabilities[:, labels.index(dataset.spec.positive_label)].astype(float)
    return AuditContext(dataset.spec, dataset.frame, data_sha, y_true, y_pred, y_score, dataset.classes, settings,
                        model=model, predictions=preds, cached=cached, warnings=dataset.warnings)


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries an audit depends on."""
    from auditkit import __version__

    versions = {"python": platform.python_version(), "auditkit": __version__}
    for lib in _LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return versions


def inputs_section(ctx: AuditContext, *, data_name: str = "") -> dict[str, Any]:
    """The `inputs` section: content hashes, rows, column roles, library versions."""
    return {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data_file": data_name,
        "data_sha256": ctx.data_sha256,
        "model_sha256": ctx.model.sha256 if ctx.model else None,
        "model_format": ctx.model.fmt if ctx.model else "predictions-only",
        "model_kind": ctx.model.family.kind if ctx.model else None,
        "model_worker": ctx.model.protections if ctx.model else None,
        "rows": int(len(ctx.frame)),
        "columns": ctx.spec.roles(),
        "classes": list(ctx.classes),
        "versions": library_versions(),
        "warnings": list(ctx.warnings),
    }


def predictions_section(ctx: AuditContext) -> dict[str, Any]:
    """The `predictions` section: a summary of what the model predicted and how it was obtained."""
    y_true, y_pred, pos = ctx.y_true, ctx.y_pred, ctx.positive_label
    section: dict[str, Any] = {
        "source": "model" if ctx.model else "dataset",
        "rows": int(len(y_pred)),
        "accuracy": float(np.mean(y_true == y_pred)),
        "positive_rate": float(np.mean(y_pred == pos)),
        "label_positive_rate": float(np.mean(y_true == pos)),
        "predicted_class_counts": {c: int(np.sum(y_pred == c)) for c in ctx.classes},
        "has_scores": ctx.y_score is not None,
    }
    if ctx.predictions is not None:
        p = ctx.predictions
        section.update(seconds=p.seconds, device=p.device, batch_size=p.batch_size, cached=ctx.cached,
                       rows_per_second=p.n / p.seconds if p.seconds > 0 else None)
    return section


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
    if not ctx.cached and energy.get("kwh_per_1k_predictions") is not None:
        path.write_text(json.dumps({"kwh_per_1k_predictions": energy["kwh_per_1k_predictions"],
                                    "measured": datetime.now(timezone.utc).isoformat(timespec="seconds")}))
    elif ctx.cached and path.is_file():
        stored = json.loads(path.read_text())
        energy = {**energy, "kwh_per_1k_predictions": stored["kwh_per_1k_predictions"],
                  "kwh_per_1k_predictions_measured": stored["measured"]}
    return energy


def run_audit(data: str | Path | bytes, spec: AuditSpec, *, model: str | Path | ModelHandle | None = None,
              name: str = "", settings: Settings | None = None, device: str | None = None,
              batch_size: int | None = None, progress: Progress | None = None,
              allow_pickle_weights: bool = False, region: str = "USA", engine: str = "local",
              ray_address: str | None = None, stream: bool = False, workers: int | None = None,
              chunk_rows: int | None = None, data_sha256: str | None = None) -> tuple[dict[str, Any], AuditContext]:
    """Run a whole audit; returns the audit.json dict and the context the panels read.

    When a model runs, its energy is measured per phase (load, inference, analysis, explanations) in `energy`,
    with CO2e for `region` (ISO 3166 alpha-3).

    `engine="ray"` runs inference and counting on the Ray cluster at `ray_address` (default: `$RAY_ADDRESS`, else
    a local cluster) with `workers` model actors; `stream=True` reads the file locally in chunks of `chunk_rows`
    rows in bounded memory. Both give the same `predictions` and `fairness` as the in-memory engine, compute
    explanations and privacy on a sample, and add a `scale` section (see docs/scale.md). `data_sha256`: the content
    hash of `data` when the caller has it already.

    The acting principal (`auditkit.access`) needs the role to run audits, and a page session may name only a Ray
    cluster the administrator allows; `AccessDenied` otherwise, before anything is read.
    """
    from auditkit.scale.cluster import check_engine

    require(current_principal(), "run")
    check_ray_address(ray_address)
    settings = settings or Settings.from_env()
    chunked = check_engine(engine) == "ray" or stream
    if chunked:
        from auditkit.scale.engine import check_chunked_inputs

        check_chunked_inputs(data, model, engine)
    model_path = model if isinstance(model, (str, Path)) else None
    meter, energy = start_meter(region, idle_seconds=settings.idle_seconds) if model is not None else (None, None)
    try:
        with _phase(meter, "load"):
            if isinstance(model, (str, Path)):
                model = load_model(model, allow_pickle_weights=allow_pickle_weights, settings=settings)
        if chunked:
            audit, ctx = _run_chunked(data, spec, model, model_path, engine, settings, meter, name=name, device=device,
                                      batch_size=batch_size, progress=progress, ray_address=ray_address,
                                      workers=workers, chunk_rows=chunk_rows, allow_pickle_weights=allow_pickle_weights,
                                      data_sha256=data_sha256)
            if meter is not None:
                energy = build_section(meter.report())
            return (audit if energy is None else {**audit, "energy": energy}), ctx
        with _phase(meter, "inference"):
            ctx = prepare(data, spec, model=model, name=name, settings=settings, device=device,
                          batch_size=batch_size, progress=progress, data_sha256=data_sha256)
        if meter is not None:
            meter.set_predictions("inference", 0 if ctx.cached else len(ctx.y_pred))
        data_name = name or (Path(data).name if isinstance(data, (str, Path)) else "")
        audit = {"inputs": inputs_section(ctx, data_name=data_name), "predictions": predictions_section(ctx)}
        audit.update(build_sections(ctx, meter=meter))
        if meter is not None:
            energy = _inference_energy(build_section(meter.report()), ctx)
    finally:
        if meter is not None:
            meter.close()
    if energy is not None:
        audit["energy"] = energy
    return audit, ctx


def _run_chunked(data: str | Path, spec: AuditSpec, model: ModelHandle | None, model_path: str | Path | None,
                 engine: str, settings: Settings, meter: Any, *, chunk_rows: int | None,
                 **options: Any) -> tuple[dict[str, Any], AuditContext]:
    from auditkit.scale.engine import DEFAULT_CHUNK_ROWS, run_chunked_audit

    with _phase(meter, "inference"):
        audit, ctx = run_chunked_audit(data, spec, model=model, model_path=model_path, engine=engine,  # type: ignore[arg-type]
                                       settings=settings, chunk_rows=chunk_rows or DEFAULT_CHUNK_ROWS, **options)
    if meter is not None:
        meter.set_predictions("inference", 0 if audit["predictions"].get("cached") else audit["predictions"]["rows"])
    return audit, ctx


def write_audit(audit: dict[str, Any], out_dir: str | Path) -> Path:
    """Write `out_dir/audit.json` atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    target = out / "audit.json"
    fd, tmp = tempfile.mkstemp(prefix=".audit-", dir=out)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(audit, f, indent=2, default=_json_default)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, target)
    return target


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")
