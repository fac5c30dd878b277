"""Load `torch.export` programs (.pt2) only after proving that loading them needs no unrestricted pickle.

`torch.export.load` falls back to `torch.load(weights_only=False)` when a pickled member fails the
weights-only unpickler, and honours `use_pickle` entries in the weights config. So every member is
inspected here first, and the archive is refused if anything would need more than `weights_only`.
"""
from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path

import torch

from auditkit.checkpoints.archive import is_symlink, safe_member_name
from auditkit.checkpoints.handle import LoadedModel
from auditkit.errors import ModelLoadError, UnsafeModelError

_REFUSE = ("the .pt2 archive member '{0}' would need unrestricted pickle to load, which can run code. "
           "Refused. Fix: re-export the model with torch.export using plain tensor weights.")


def is_pt2(zf: zipfile.ZipFile) -> bool:
    """Whether a zip is a torch.export archive."""
    return any(n.endswith("archive_format") and zf.read(n).strip() == b"pt2" for n in zf.namelist())


def inspect_pt2(path: Path) -> None:
    """Raise UnsafeModelError unless every member loads with the weights-only unpickler and no entry asks for pickle.

    Tensors that a weights or constants config lists without `use_pickle` are raw bytes (torch reads them with
    `frombuffer`), so their first byte says nothing about pickle and they are not sniffed.
    """
    with zipfile.ZipFile(path) as zf:
        raw = _raw_tensor_members(zf)
        for info in zf.infolist():
            if is_symlink(info):
                raise UnsafeModelError(f"the .pt2 archive member '{info.filename}' is a symbolic link. Refused.")
            parts = safe_member_name(info.filename).parts
            if "code" in parts[:-1] or info.filename.endswith((".py", ".pkl")):
                raise UnsafeModelError(f"the archive member '{info.filename}' is code (TorchScript or Python). Refused. "
                                       "Fix: export the model with torch.export instead of TorchScript.")
            data = zf.read(info)
            if info.filename not in raw and (data[:4] == b"PK\x03\x04" or data[:1] == b"\x80"):
                _check_weights_only(info.filename, data)


def _raw_tensor_members(zf: zipfile.ZipFile) -> set[str]:
    """Archive members that the weights/constants configs describe as raw tensor bytes (`use_pickle` false)."""
    raw = set()
    for name in zf.namelist():
        if not name.endswith("_config.json"):
            continue
        _check_config(name, zf.read(name))
        folder = name.rsplit("/", 1)[0]
        raw.update(f"{folder}/{entry['path_name']}" for entry in json.loads(zf.read(name)).get("config", {}).values()
                   if isinstance(entry.get("path_name"), str))
    return raw


def _check_config(name: str, data: bytes) -> None:
    try:
        config = json.loads(data).get("config", {})
    except (ValueError, AttributeError):
        raise UnsafeModelError(f"the .pt2 archive member '{name}' is not valid JSON. Refused.") from None
    for key, entry in config.items():
        if not isinstance(entry, dict) or entry.get("use_pickle"):
            raise UnsafeModelError(_REFUSE.format(f"{name}:{key}"))


def _check_weights_only(name: str, data: bytes) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except Exception:  # any failure means torch would retry without the restriction
        raise UnsafeModelError(_REFUSE.format(name)) from None


def load_pt2(path: Path, sha256: str) -> LoadedModel:
    """Inspect, then load a tabular `torch.export` program: float32 [batch, n_features] -> logits."""
    inspect_pt2(path)
    try:
        program = torch.export.load(str(path))
    except Exception as e:  # a malformed archive raises many kinds of errors
        raise ModelLoadError(f"the .pt2 file cannot be loaded ({type(e).__name__}: {e}). Fix: re-export it with torch.export.") from None
    inputs = [s for s in program.graph_signature.input_specs if s.kind.name == "USER_INPUT"]
    if len(inputs) != 1:
        raise ModelLoadError(f"the exported program takes {len(inputs)} inputs; a tabular model must take one float tensor [batch, n_features].")
    example = program.example_inputs[0][0] if program.example_inputs else None
    n_features = int(example.shape[-1]) if example is not None else None
    module = program.module()
    with torch.inference_mode():
        out = module(torch.zeros(2, n_features or 1))
    if out.ndim not in (1, 2):
        raise ModelLoadError(f"the model returns a tensor of shape {tuple(out.shape)}; expected logits [batch] or [batch, n_classes].")
    n_outputs = 1 if out.ndim == 1 else int(out.shape[1])
    return LoadedModel(kind="tabular", module=module, sha256=sha256, fmt="pt2", n_outputs=n_outputs, n_features=n_features)
