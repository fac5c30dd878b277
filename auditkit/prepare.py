"""Upload to panel inputs: a validated dataset, the model loaded in its worker, and its cached predictions."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.io import read_table
from auditkit.data.spec import AuditSpec
from auditkit.data.validate import ValidatedDataset, validate_dataset
from auditkit.errors import DataValidationError
from auditkit.families.handle import ModelHandle
from auditkit.hashing import sha256_source
from auditkit.inference import cache
from auditkit.inference.device import resolve_device
from auditkit.inference.runner import Predictions, Progress, predict

NOTHING_TO_AUDIT = ("there is nothing to audit: no model and no prediction column. Fix: give a model checkpoint "
                    "(--model), or the column holding the model's predictions (--prediction-column).")


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
        raise DataValidationError(NOTHING_TO_AUDIT)
    dataset = load_dataset(data, spec, name=name, settings=settings,
                           needs_features=model is not None and model.family.input_role == "features")
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
