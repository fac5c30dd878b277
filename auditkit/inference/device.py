"""Choosing the device and placing a shared model on it without mutating the original."""
from __future__ import annotations

import copy
import threading

import torch
from torch import nn

from auditkit.errors import SettingsError

_placed: dict[tuple[int, str], nn.Module] = {}
_lock = threading.Lock()


def resolve_device(device: str | None = None) -> torch.device:
    """`None`/"auto": CUDA, then Apple MPS, then CPU. Otherwise the named device, if it exists."""
    if device in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise SettingsError(f"unknown device {device!r}. Fix: use auto, cpu, cuda, cuda:N or mps.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise SettingsError("device 'cuda' was asked for but no CUDA GPU is available. Fix: use --device cpu or auto.")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise SettingsError("device 'mps' was asked for but Apple MPS is not available. Fix: use --device cpu or auto.")
    return resolved


def module_device(module: nn.Module) -> torch.device:
    """The device of a module's first parameter or buffer (CPU if it has none)."""
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")


def on_device(module: nn.Module, device: torch.device) -> nn.Module:
    """The module on `device`: itself if already there, else one cached copy per device (the original is untouched)."""
    if module_device(module) == device:
        return module
    key = (id(module), str(device))
    with _lock:
        if key not in _placed:
            _placed[key] = copy.deepcopy(module).to(device)
        return _placed[key]
