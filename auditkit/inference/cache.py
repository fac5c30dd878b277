"""Predictions cached in the workspace, keyed by the content hashes of dataset, model and settings."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from auditkit.config import Settings
from auditkit.hashing import params_hash
from auditkit.inference.runner import Predictions


def cache_key(*, data_sha256: str, model_sha256: str, inputs: dict[str, Any], device: str) -> str:
    """The cache key: dataset bytes, model bytes, which columns feed the model, and the device type."""
    return params_hash({"data": data_sha256, "model": model_sha256, "inputs": inputs, "device": device.split(":")[0]})


def _write_atomic(path: Path, write: Callable[[Any], None]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_cached(key: str, settings: Settings) -> Predictions | None:
    """The cached predictions for `key`, or None."""
    folder = settings.path("cache", "predictions")
    arrays, meta = folder / f"{key}.npz", folder / f"{key}.json"
    if not (arrays.is_file() and meta.is_file()):
        return None
    info = json.loads(meta.read_text())
    with np.load(arrays, allow_pickle=False) as z:
        return Predictions(z["indices"], z["probabilities"], info["seconds"], info["device"], info["batch_size"])


def store(key: str, predictions: Predictions, settings: Settings) -> None:
    """Write predictions for `key` (arrays first, then the metadata that marks them complete)."""
    folder = settings.path("cache", "predictions")
    _write_atomic(folder / f"{key}.npz",
                  lambda f: np.savez(f, indices=predictions.indices, probabilities=predictions.probabilities))
    meta = {"seconds": predictions.seconds, "device": predictions.device, "batch_size": predictions.batch_size}
    _write_atomic(folder / f"{key}.json", lambda f: f.write(json.dumps(meta).encode()))
