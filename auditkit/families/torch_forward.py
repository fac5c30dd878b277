"""Batched forward passes of PyTorch models, shared by the PyTorch-based families (worker side)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from auditkit.families.base import Progress
from auditkit.inference.device import on_device, resolve_device

Batch = Callable[[nn.Module, int, int, torch.device], torch.Tensor]


def parameter_count(module: nn.Module) -> int:
    """Number of parameters of a module."""
    return int(sum(p.numel() for p in module.parameters()))


def forward_batches(module: nn.Module, n: int, batch: Batch, *, batch_size: int, device: str,
                    progress: Progress | None, order: np.ndarray | None = None) -> np.ndarray:
    """Logits of `n` rows, `batch(module, start, stop, device)` at a time in `order` (default: input order),
    returned in input order. On CUDA a float32 module runs under bf16 autocast, and a batch that runs out of
    memory is halved."""
    dev = resolve_device(device)
    module = on_device(module, dev)
    autocast = dev.type == "cuda" and floating_dtype(module) == torch.float32
    order = np.arange(n) if order is None else order
    parts: list[torch.Tensor] = []
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        parts.append(_forward(lambda a, b: batch(module, a, b, dev), start, stop, dev, autocast))
        if progress:
            progress(stop, n)
    if not parts:
        return np.zeros(0, dtype=np.float32)
    logits = torch.cat(parts)
    out = torch.empty_like(logits)
    out[torch.from_numpy(order)] = logits
    return out.numpy()


def floating_dtype(module: nn.Module) -> torch.dtype:
    """The dtype of the module's first floating-point parameter (float32 if it has none)."""
    return next((p.dtype for p in module.parameters() if p.is_floating_point()), torch.float32)


def _forward(fn: Callable[[int, int], torch.Tensor], start: int, stop: int, dev: torch.device,
             autocast: bool) -> torch.Tensor:
    """Run fn(start, stop) under inference mode (bf16 autocast when asked); on CUDA OOM split the range in two."""
    try:
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            return fn(start, stop).float().cpu()
    except torch.cuda.OutOfMemoryError:
        if stop - start == 1:
            raise
        torch.cuda.empty_cache()
        mid = (start + stop) // 2
        return torch.cat([_forward(fn, start, mid, dev, autocast), _forward(fn, mid, stop, dev, autocast)])
