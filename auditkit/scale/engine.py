"""The chunked audit: count a large dataset chunk by chunk (locally, or on Ray) and assemble audit.json from the counts.

Predictions and fairness come from every row; the other panels (explanations, privacy) run on the driver on a
seeded random sample of `sample_rows` rows, and the `scale` section says so.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.data.validate import (
    ValidatedDataset,
    missing_columns,
    role_overlaps,
    resolve_features,
)
from auditkit.errors import AuditkitError, DataValidationError, SettingsError
from auditkit.hashing import sha256_source
from auditkit.inference import cache
from auditkit.inference.device import resolve_device
from auditkit.families.handle import ModelHandle
from auditkit.inference.runner import Progress, predict
from auditkit.scale import stream
from auditkit.scale.fairness import (
    RowScores,
    label_classes,
    merge_tallies,
    summarise,
    tally_chunk,
    tally_predictions,
    type_chunk,
)

DEFAULT_CHUNK_ROWS = 1_000_000
DEFAULT_SAMPLE_ROWS = 2_000
SAMPLE_SEED = 0
DRIVER_SECTIONS = ("explanations", "privacy")
PREDICTION_INDEX = "prediction"


@dataclass(frozen=True)
class Plan:
    """What a chunked audit reads and computes: the spec with features resolved, the columns each chunk needs, and
    for a model the inference batch size and the predictions' cache key on the device type that runs it."""

    spec: AuditSpec
    columns: list[str]
    needs_features: bool
    device: str | None
    data_sha256: str
    model: ModelHandle | None = None
    inputs: dict[str, Any] | None = None
    requested_batch_size: int | None = None
    device_type: str = "cpu"

    @property
    def batch_size(self) -> int | None:
        """The local runner's batch size for this model and device type (or the one asked for)."""
        if self.model is None:
            return None
        return self.requested_batch_size or self.model.family.batch_size(self.device_type)

    @property
    def cache_key(self) -> str | None:
        """The in-memory engine's cache key for these predictions (dataset, model, inputs, device type)."""
        if self.model is None:
            return None
        return cache.cache_key(data_sha256=self.data_sha256, model_sha256=self.model.sha256, inputs=self.inputs or {},
                               device=self.device_type)

    @property
    def needs_rows(self) -> bool:
        """True when every row's score must be kept (ROC AUC and calibration)."""
        return self.model is not None or bool(self.spec.score_column)

    def on(self, device_type: str) -> "Plan":
        """The same plan with inference on `device_type` (e.g. the GPUs of a Ray cluster)."""
        return replace(self, device_type=device_type)


@dataclass(frozen=True)
class Counted:
    """The summed tally of a whole dataset, the rows' scores where there are any, and how predictions were made."""

    tally: pd.DataFrame
    rows: RowScores | None
    seconds: float
    cached: bool
    device: str | None
    workers: int
    batch_size: int | None = None


def plan(path: str | Path, spec: AuditSpec, model: ModelHandle | None, *, data_sha256: str,
         device: str | None, batch_size: int | None) -> Plan:
    """Resolve features and check the columns against the file's header, as `validate_dataset` does."""
    files, fmt = stream.source_files(path)
    header = stream.source_columns(files, fmt)
    needs_features = model is not None and model.family.input_role == "features"
    spec = resolve_features(spec, header) if model is None or needs_features else spec
    problems = missing_columns(spec, header) + role_overlaps(spec)
    if problems:
        raise DataValidationError(problems)
    columns = [spec.target, *spec.sensitive]
    if model is None:
        if not spec.prediction_column:
            raise DataValidationError("there is nothing to audit: no model and no prediction column. Fix: give a model "
                                      "checkpoint (--model), or the column holding the model's predictions (--prediction-column).")
        columns += [c for c in (spec.prediction_column, spec.score_column) if c]
        return Plan(spec, list(dict.fromkeys(columns)), False, device, data_sha256)
    _, described = model.family.inputs(pd.DataFrame(columns=header), spec, model.info)
    columns += model.family.columns(spec)
    return Plan(spec, list(dict.fromkeys(columns)), needs_features, device, data_sha256, model, described, batch_size,
                resolve_device(device).type)


def predictions_file(key: str, settings: Settings) -> Path:
    """Where the chunked engines keep a dataset's predictions: Parquet beside the in-memory engine's cache entry."""
    return settings.path("cache", "predictions") / f"{key}.parquet"


def prediction_frame(indices: np.ndarray, probabilities: np.ndarray) -> pd.DataFrame:
    """The cached predictions' columns: the class index and one float32 probability column per class."""
    frame = pd.DataFrame({PREDICTION_INDEX: indices.astype(np.int64)})
    for i in range(probabilities.shape[1]):
        frame[f"p{i}"] = probabilities[:, i].astype(np.float32)
    return frame


def aligned_chunk(chunk_rows: int, batch_size: int | None) -> int:
    """Chunks hold whole inference batches, so each batch holds the same rows as in the in-memory engine."""
    if not batch_size:
        return chunk_rows
    return max(1, -(-chunk_rows // batch_size)) * batch_size


def count_local(path: str | Path, p: Plan, model: ModelHandle | None, *, settings: Settings, chunk_rows: int,
                progress: Progress | None = None) -> Counted:
    """Stream the file(s) in chunks of `chunk_rows` rows (rounded up to whole batches) and sum the tallies."""
    spec, chunk_rows = p.spec, aligned_chunk(chunk_rows, p.batch_size)
    target = predictions_file(p.cache_key, settings) if p.cache_key else None
    cached = target is not None and target.is_file()
    cached_chunks = stream.iter_chunks(target, [PREDICTION_INDEX, *(f"p{i}" for i in range(model.n_classes))],
                                       chunk_rows=chunk_rows) if cached else None
    rows = RowScores(list(spec.sensitive)) if p.needs_rows else None
    tallies, seconds, done = [], 0.0, 0
    with stream.ParquetSink(None if cached else target) as sink:
        for chunk in stream.iter_chunks(path, p.columns, chunk_rows=chunk_rows):
            where = f"rows {done + 1}-{done + len(chunk)}"
            if rows is None:
                tallies.append(tally_predictions(chunk, spec, where=where))
            else:
                typed = type_chunk(chunk, spec, needs_features=p.needs_features, where=where)
                sensitive = typed[list(spec.sensitive)]
                positive = (typed[spec.target] == spec.positive_label).to_numpy()
                if model is None:
                    tallies.append(tally_chunk(sensitive, typed[spec.target], typed[spec.prediction_column]))
                    rows.add(sensitive, positive, typed[spec.score_column].to_numpy(dtype=float))
                else:
                    if cached_chunks is not None:
                        preds = next(cached_chunks)
                    else:
                        inputs = model.family.inputs(typed, spec, model.info)[0]
                        result = predict(model, inputs, batch_size=p.batch_size, device=p.device)
                        seconds += result.seconds
                        preds = prediction_frame(result.indices, result.probabilities)
                        sink.write(preds)
                    tallies.append(tally_chunk(sensitive, typed[spec.target], preds[PREDICTION_INDEX]))
                    rows.add(sensitive, positive, preds.drop(columns=PREDICTION_INDEX).to_numpy())
            done += len(chunk)
            if len(tallies) > 1:
                tallies = [merge_tallies(tallies)]
            if progress:
                progress(done, done)
    if not tallies:
        raise DataValidationError("the file has a header but no rows. Fix: give a file with data rows.")
    device = None if model is None else str(resolve_device(p.device))
    return Counted(merge_tallies(tallies), rows, seconds, cached, device, 1, p.batch_size)


def _label_names(model: ModelHandle | None, spec: AuditSpec, classes: tuple[str, ...]) -> list[str] | None:
    from auditkit.audit import label_map

    if model is None:
        return None
    return label_map(model, ValidatedDataset(pd.DataFrame(), spec, classes))


def _driver_sample(path: str | Path, spec: AuditSpec, model: ModelHandle | None, *, settings: Settings,
                   device: str | None, batch_size: int | None, total: int, sample_rows: int, chunk_rows: int
                   ) -> tuple[AuditContext, dict[str, Any]]:
    """A seeded random sample of `sample_rows` rows as an in-memory audit, and the driver-side sections built on it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from auditkit.audit import prepare
    from auditkit.sections import build_sections

    files, fmt = stream.source_files(path)
    columns = stream.source_columns(files, fmt)  # every column: the privacy checks look at all of them
    sample = stream.sample_rows(path, columns, total=total, rows=sample_rows, chunk_rows=chunk_rows, seed=SAMPLE_SEED)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(sample, preserve_index=False), buffer)
    ctx = prepare(buffer.getvalue(), spec, model=model, name="sample.parquet", settings=settings, device=device,
                  batch_size=batch_size)
    return ctx, build_sections(ctx, list(DRIVER_SECTIONS))


def run_chunked_audit(data: str | Path, spec: AuditSpec, *, model: ModelHandle | None, model_path: str | Path | None,
                      engine: Literal["local", "ray"], settings: Settings, name: str = "", device: str | None = None,
                      batch_size: int | None = None, progress: Progress | None = None, ray_address: str | None = None,
                      workers: int | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                      sample_rows: int = DEFAULT_SAMPLE_ROWS, allow_pickle_weights: bool = False,
                      data_sha256: str | None = None) -> tuple[dict[str, Any], AuditContext]:
    """audit.json for a dataset read in chunks: locally (`engine="local"`) or on a Ray cluster (`engine="ray"`).

    `predictions` and `fairness` equal the in-memory engine's on the same data; explanations and privacy are
    computed on a seeded random sample of `sample_rows` rows, whose in-memory context is returned.
    """
    from auditkit.audit import inputs_section, predictions_section
    from auditkit.fairness.section import keep_fairness_report

    if chunk_rows < 1 or sample_rows < 1:
        raise SettingsError(f"chunk_rows and sample_rows must be at least 1 (got {chunk_rows} and {sample_rows}). "
                            "Fix: pass a positive number of rows (--chunk-rows).")
    start = time.perf_counter()
    data_sha = data_sha256 or sha256_source(data)
    p = plan(data, spec, model, data_sha256=data_sha, device=device, batch_size=batch_size)
    if engine == "ray":
        from auditkit.scale.inference import count_ray

        counted = count_ray(data, p, model, model_path=model_path, settings=settings, address=ray_address,
                            workers=workers, chunk_rows=chunk_rows, allow_pickle_weights=allow_pickle_weights)
    else:
        counted = count_local(data, p, model, settings=settings, chunk_rows=chunk_rows, progress=progress)
    classes = label_classes(counted.tally, p.spec)
    labels = _label_names(model, p.spec, classes)
    result = summarise(counted.tally, p.spec, classes, min_group_size=settings.min_group_size,
                       prediction_labels=labels, rows=counted.rows,
                       score_column=labels.index(p.spec.positive_label) if labels else None)
    counting_seconds = time.perf_counter() - start
    sample_ctx, driver_sections = _driver_sample(data, p.spec, model, settings=settings, device=device,
                                                 batch_size=batch_size, total=result.predictions["rows"],
                                                 sample_rows=sample_rows, chunk_rows=chunk_rows)
    keep_fairness_report(sample_ctx, result.report)  # the panels show the numbers over every row
    inputs = inputs_section(sample_ctx, data_name=name or Path(data).name)
    inputs.update(data_sha256=data_sha, rows=result.predictions["rows"], classes=list(classes),
                  columns=p.spec.roles(), warnings=list(result.warnings))
    predictions = {**predictions_section(sample_ctx), **result.predictions,
                   "has_scores": counted.rows is not None}
    if model is not None:
        n = result.predictions["rows"]
        predictions.update(seconds=counted.seconds, device=counted.device, batch_size=counted.batch_size,
                           cached=counted.cached, rows_per_second=n / counted.seconds if counted.seconds > 0 else None)
    audit: dict[str, Any] = {"inputs": inputs, "predictions": predictions, "fairness": result.fairness}
    audit.update(driver_sections)
    audit["scale"] = {
        "engine": engine,
        "chunked": True,
        "chunk_rows": aligned_chunk(chunk_rows, counted.batch_size),
        "workers": counted.workers,
        "rows": result.predictions["rows"],
        "seconds": counting_seconds,
        "rows_per_second": result.predictions["rows"] / counting_seconds if counting_seconds > 0 else None,
        "every_row": ["predictions", "fairness"],
        "sample": {"rows": int(len(sample_ctx.frame)), "seed": SAMPLE_SEED, "sections": list(DRIVER_SECTIONS)},
    }
    return audit, sample_ctx


def check_chunked_inputs(data: Any, model: Any, engine: str) -> None:
    """The chunked engines read a file or folder path, and Ray workers load the model from its checkpoint path."""
    if not isinstance(data, (str, Path)):
        raise AuditkitError("the chunked and Ray engines read the dataset from a path. Fix: give the file or "
                            "folder path (--data), or use the in-memory engine.")
    if engine == "ray" and isinstance(model, ModelHandle):
        raise AuditkitError("the Ray engine loads the model in each worker from its checkpoint. Fix: pass the "
                            "checkpoint path (--model), not a loaded model.")

