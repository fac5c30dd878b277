"""Batched inference: the model's family runs the forward pass in the model's worker; probabilities here."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from auditkit.errors import ModelLoadError, SettingsError
from auditkit.families.handle import ModelHandle
from auditkit.families.registry import get
from auditkit.inference.device import resolve_device
from auditkit.worker.ops import worker_op

Progress = Callable[[int, int], None]
_MAX_BATCH = 1_000_000


@dataclass(frozen=True)
class Predictions:
    """Model outputs in input order: class indices and probabilities [n, n_classes] (float32)."""

    indices: np.ndarray
    probabilities: np.ndarray
    seconds: float
    device: str
    batch_size: int

    @property
    def n(self) -> int:
        return int(self.indices.shape[0])


def predict(model: ModelHandle, data: Sequence[str] | np.ndarray | pd.DataFrame, *, batch_size: int | None = None,
            device: str | None = None, progress: Progress | None = None) -> Predictions:
    """Run `model` over `data` (its family's inputs: a list of strings for text models, a 2-D array or DataFrame of
    features for tabular ones) in its worker.

    Batches are sized per device; on CUDA, bf16 autocast is used and a batch that runs out of memory is halved and retried.
    """
    dev = resolve_device(device)
    size = model.family.batch_size(dev.type) if batch_size is None else batch_size
    if not 1 <= size <= _MAX_BATCH:
        raise SettingsError(f"batch size {size} is out of range. Fix: use 1 to {_MAX_BATCH}.")
    inputs = model.family.as_inputs(data)
    start = time.perf_counter()
    logits = model.run(forward, model.family.name, inputs, batch_size=size, device=str(dev), progress=progress)
    probs = probabilities(checked_logits(np.asarray(logits, dtype=np.float32), len(inputs), model.n_outputs))
    return Predictions(probs.argmax(axis=1), probs, time.perf_counter() - start, str(dev), size)


@worker_op
def forward(model: Any, family: str, inputs: Any, *, batch_size: int, device: str,
            progress: Progress | None = None) -> np.ndarray:
    """The family's forward pass over `inputs`: logits in input order (worker)."""
    logits = get(family).forward(model, inputs, batch_size=batch_size, device=device, progress=progress)
    return np.asarray(logits, dtype=np.float32)


def checked_logits(logits: np.ndarray, n: int, n_outputs: int) -> np.ndarray:
    """The model's logits for `n` rows as [n] (one logit) or [n, n_outputs]; a `[n, 1]` output is the one logit
    of a binary model. `ModelLoadError` when the shape is anything else or any row has a NaN or infinite output."""
    if logits.ndim == 2 and logits.shape[1] == 1 and n_outputs == 1:
        logits = logits[:, 0]
    expected = (n,) if n_outputs == 1 else (n, n_outputs)
    if logits.shape != expected:
        raise ModelLoadError(f"the model returned outputs of shape {list(logits.shape)} for {n} rows; expected "
                             f"{list(expected)} ({'one logit' if n_outputs == 1 else f'{n_outputs} logits'} per row). "
                             "Fix: make the model return logits [batch] (binary) or [batch, n_classes].")
    bad = ~np.isfinite(logits.reshape(n, -1)).all(axis=1)
    if bad.any():
        raise ModelLoadError(f"the model gave NaN or infinite outputs for {int(bad.sum())} of {n} rows (first at row "
                             f"{int(np.flatnonzero(bad)[0]) + 1}); no audit is computed from them. Fix: check the "
                             "model's weights and the input values of those rows (overflow, division by zero).")
    return logits


def probabilities(logits: np.ndarray) -> np.ndarray:
    """Class probabilities from logits: sigmoid of one logit [n] (binary), else softmax over [n, k] (float32)."""
    import torch

    t = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float32))
    if t.ndim == 1:
        p = torch.sigmoid(t)
        return torch.stack([1 - p, p], dim=1).numpy()
    return torch.softmax(t, dim=1).numpy()
