"""The chunked engines, `stream` and `ray`: count a large dataset chunk by chunk (locally, or on Ray).

Predictions and fairness come from every row; the other sections (explanations, privacy) run on the driver on a
seeded random sample of `sample_rows` rows, and the `scale` section says so.
"""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

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
from auditkit.engine_registry import DEFAULT_CHUNK_ROWS, AuditJob, EngineRun
from auditkit.errors import DataValidationError
from auditkit.families.handle import ModelHandle
from auditkit.hashing import sha256_source
from auditkit.inference import cache
from auditkit.inference.device import resolve_device
from auditkit.inference.runner import Progress, predict
from auditkit.prepare import NOTHING_TO_AUDIT, label_map, prepare
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
from auditkit.sections import registered as registered_sections
from auditkit.summary import predictions_section

DEFAULT_SAMPLE_ROWS = 2_000
SAMPLE_SEED = 0
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
            raise DataValidationError(NOTHING_TO_AUDIT)
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
    if model is None:
        return None
    return label_map(model, ValidatedDataset(pd.DataFrame(), spec, classes))


def _sample(path: str | Path, spec: AuditSpec, model: ModelHandle | None, *, settings: Settings,
            device: str | None, batch_size: int | None, total: int, sample_rows: int, chunk_rows: int) -> AuditContext:
    """A seeded random sample of `sample_rows` rows as an in-memory audit context (what the other sections read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files, fmt = stream.source_files(path)
    columns = stream.source_columns(files, fmt)  # every column: the privacy checks look at all of them
    sample = stream.sample_rows(path, columns, total=total, rows=sample_rows, chunk_rows=chunk_rows, seed=SAMPLE_SEED)
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(sample, preserve_index=False), buffer)
    return prepare(buffer.getvalue(), spec, model=model, name="sample.parquet", settings=settings, device=device,
                   batch_size=batch_size)


def sample_sections(computed: dict[str, Any]) -> list[str]:
    """The sections built on the sample: every registered one the engine did not compute over every row, except
    those measured over the whole run (the energy section, which has no meter phase of its own)."""
    return [s.name for s in registered_sections() if s.name not in computed and s.phase is not None]


def run_chunked(job: AuditJob, count: Callable[[AuditJob, Plan, int], Counted], *, engine: str,
                sample_rows: int = DEFAULT_SAMPLE_ROWS) -> EngineRun:
    """Count the dataset chunk by chunk with `count` (`count_local`, or Ray's), then sample `sample_rows` rows for
    the other sections. `predictions` and `fairness` equal the in-memory engine's on the same data."""
    from auditkit.fairness.section import keep_fairness_report

    start = time.perf_counter()
    chunk_rows = job.setting.chunk_rows or DEFAULT_CHUNK_ROWS
    model, data = job.model, job.data
    data_sha = job.data_sha256 or sha256_source(data)
    p = plan(data, job.spec, model, data_sha256=data_sha, device=job.device, batch_size=job.batch_size)
    counted = count(job, p, chunk_rows)
    classes = label_classes(counted.tally, p.spec)
    labels = _label_names(model, p.spec, classes)
    result = summarise(counted.tally, p.spec, classes, min_group_size=job.settings.min_group_size,
                       prediction_labels=labels, rows=counted.rows,
                       score_column=labels.index(p.spec.positive_label) if labels else None)
    counting_seconds = time.perf_counter() - start
    rows = result.predictions["rows"]
    ctx = _sample(data, p.spec, model, settings=job.settings, device=job.device, batch_size=job.batch_size,
                  total=rows, sample_rows=sample_rows, chunk_rows=chunk_rows)  # type: ignore[arg-type]
    keep_fairness_report(ctx, result.report)  # the panels show the numbers over every row
    predictions = {**predictions_section(ctx), **result.predictions, "has_scores": counted.rows is not None}
    if model is not None:
        predictions.update(seconds=counted.seconds, device=counted.device, batch_size=counted.batch_size,
                           cached=counted.cached,
                           rows_per_second=rows / counted.seconds if counted.seconds > 0 else None)
    computed = {"fairness": result.fairness}
    scale = {
        "engine": engine,
        "chunked": True,
        "chunk_rows": aligned_chunk(chunk_rows, counted.batch_size),
        "workers": counted.workers,
        "rows": rows,
        "seconds": counting_seconds,
        "rows_per_second": rows / counting_seconds if counting_seconds > 0 else None,
        "every_row": ["predictions", *computed],
        "sample": {"rows": int(len(ctx.frame)), "seed": SAMPLE_SEED,
                   "sections": sample_sections(computed)},
    }
    inputs = {"data_sha256": data_sha, "rows": rows, "classes": list(classes), "columns": p.spec.roles(),
              "warnings": list(result.warnings)}
    inferred = 0 if model is None or counted.cached else rows
    return EngineRun(ctx, predictions, inferred, whole=False, inputs=inputs, computed=computed, scale=scale)


def count_stream(job: AuditJob, p: Plan, chunk_rows: int) -> Counted:
    """The streamed engine's counting: chunks read on this machine."""
    return count_local(job.data, p, job.model, settings=job.settings, chunk_rows=chunk_rows,  # type: ignore[arg-type]
                       progress=job.progress)
