"""Batched inference for tabular and text models, with length-sorted dynamic padding for text."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from auditkit.checkpoints.handle import LoadedModel
from auditkit.errors import SettingsError
from auditkit.inference.device import on_device, resolve_device

Progress = Callable[[int, int], None]
DEFAULT_BATCH = {"text": {"cpu": 32, "cuda": 256, "mps": 64}, "tabular": {"cpu": 8192, "cuda": 65536, "mps": 8192}}
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


def predict(model: LoadedModel, data: Sequence[str] | np.ndarray | pd.DataFrame, *, batch_size: int | None = None,
            device: str | None = None, progress: Progress | None = None) -> Predictions:
    """Run `model` over `data`: a list of strings (text models) or a 2-D array / DataFrame of features (tabular).

    Batches are sized per device; on CUDA, bf16 autocast is used and a batch that runs out of memory is halved and retried.
    """
    dev = resolve_device(device)
    size = DEFAULT_BATCH[model.kind].get(dev.type, 64) if batch_size is None else batch_size
    if not 1 <= size <= _MAX_BATCH:
        raise SettingsError(f"batch size {size} is out of range. Fix: use 1 to {_MAX_BATCH}.")
    module = on_device(model.module, dev)
    start = time.perf_counter()
    if model.kind == "text":
        logits = _predict_text(model, module, list(data), dev, size, progress)
    else:
        logits = _predict_tabular(model, module, data, dev, size, progress)
    probs = _probabilities(logits)
    return Predictions(probs.argmax(axis=1), probs, time.perf_counter() - start, str(dev), size)


def _probabilities(logits: torch.Tensor) -> np.ndarray:
    logits = logits.float()
    if logits.ndim == 1:
        p = torch.sigmoid(logits)
        return torch.stack([1 - p, p], dim=1).numpy()
    return torch.softmax(logits, dim=1).numpy()


def _forward(fn: Callable[[int, int], torch.Tensor], start: int, stop: int, dev: torch.device) -> torch.Tensor:
    """Run fn(start, stop) under inference mode (bf16 autocast on CUDA); on CUDA OOM split the range in two."""
    try:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            return fn(start, stop).float().cpu()
    except torch.cuda.OutOfMemoryError:
        if stop - start == 1:
            raise
        torch.cuda.empty_cache()
        mid = (start + stop) // 2
        return torch.cat([_forward(fn, start, mid, dev), _forward(fn, mid, stop, dev)])


def _predict_tabular(model: LoadedModel, module: torch.nn.Module, data: np.ndarray | pd.DataFrame,
                     dev: torch.device, size: int, progress: Progress | None) -> torch.Tensor:
    x = torch.from_numpy(np.ascontiguousarray(np.asarray(data, dtype=np.float32)))
    if x.ndim != 2 or (model.n_features and x.shape[1] != model.n_features):
        raise SettingsError(f"the model takes {model.n_features} features but the data has shape {tuple(x.shape)}. "
                            "Fix: choose the feature columns in the model's input order (--features).")
    out = []
    for start in range(0, len(x), size):
        stop = min(start + size, len(x))
        out.append(_forward(lambda a, b: module(x[a:b].to(dev)), start, stop, dev))
        if progress:
            progress(stop, len(x))
    return torch.cat(out) if out else torch.zeros(0)


def _predict_text(model: LoadedModel, module: torch.nn.Module, texts: list[str], dev: torch.device,
                  size: int, progress: Progress | None) -> torch.Tensor:
    tok = model.tokenizer
    encoded = tok(texts, truncation=True, max_length=model.max_length)["input_ids"]
    order = np.argsort([-len(ids) for ids in encoded], kind="stable")
    result = torch.empty(len(texts), model.n_outputs)
    done = 0
    for start in range(0, len(order), size):
        idx = order[start:start + size]

        def run(a: int, b: int, idx: np.ndarray = idx) -> torch.Tensor:
            batch = tok.pad({"input_ids": [encoded[i] for i in idx[a:b]]}, return_tensors="pt")
            return module(**{k: v.to(dev) for k, v in batch.items()}).logits

        result[torch.from_numpy(idx)] = _forward(run, 0, len(idx), dev)
        done += len(idx)
        if progress:
            progress(done, len(texts))
    return result.squeeze(-1) if model.n_outputs == 1 else result
