"""Validate a safetensors header before anything is allocated."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from auditkit.errors import ModelLoadError

_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
                "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
_MAX_HEADER = 100 * 2**20
_MAX_DIMS = 64


def read_header(path: Path) -> tuple[dict[str, dict], int]:
    """The file's header, every entry checked for its JSON types, and the size of the data after it."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw_len = f.read(8)
        if len(raw_len) < 8:
            raise ModelLoadError(f"'{path.name}' is too short to be a safetensors file. Fix: re-save the weights.")
        (n,) = struct.unpack("<Q", raw_len)
        if n > _MAX_HEADER or n > size - 8:
            raise ModelLoadError(f"'{path.name}' declares a {n}-byte header, larger than the file allows. The file is corrupt or truncated.")
        try:
            header = json.loads(f.read(n), parse_constant=refuse_json_constant)
        except (ValueError, RecursionError):
            raise ModelLoadError(f"'{path.name}' has an unreadable header. Fix: re-save the weights with safetensors.") from None
    if not isinstance(header, dict):
        raise ModelLoadError(f"'{path.name}' has a header that is not a JSON object. Fix: re-save the weights with safetensors.")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelLoadError(f"'{path.name}': the header's __metadata__ must map names to strings. Fix: re-save the weights with safetensors.")
    for name, meta in header.items():
        problem = _entry_problem(meta)
        if problem:
            raise ModelLoadError(f"'{path.name}': tensor '{name}' has a malformed header entry ({problem}). "
                                 "Fix: re-save the weights with safetensors.")
    return header, size - 8 - n


def refuse_json_constant(name: str) -> None:
    """`json.loads(parse_constant=...)`: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not valid JSON")


def _entry_problem(meta: object) -> str:
    """What is wrong with one tensor's header entry, or "" (dtype known, shape and offsets whole numbers >= 0)."""
    if not isinstance(meta, dict) or set(meta) != {"dtype", "shape", "data_offsets"}:
        return "it must be an object with exactly dtype, shape and data_offsets"
    if not isinstance(meta["dtype"], str) or meta["dtype"] not in _DTYPE_BYTES:
        return f"unknown dtype {meta['dtype']!r}"
    for key, length in (("shape", None), ("data_offsets", 2)):
        value = meta[key]
        if not isinstance(value, list) or (length and len(value) != length) or len(value) > _MAX_DIMS \
                or not all(type(d) is int and d >= 0 for d in value):
            return f"{key} {json.dumps(value)[:80]} is not a list of whole numbers >= 0"
    return ""


def check_safetensors(path: Path, *, budget_bytes: int) -> int:
    """Check header types, dtypes, shapes and offsets against the file and a memory budget; return the data size."""
    header, data_size = read_header(path)
    spans = []
    for name, meta in header.items():
        width = _DTYPE_BYTES[meta["dtype"]]
        shape = meta["shape"]
        begin, end = meta["data_offsets"]
        need = width * int(np.prod(shape, dtype=object))
        if need > budget_bytes:
            raise ModelLoadError(f"'{path.name}': tensor '{name}' claims {need / 2**30:.1f} GiB, over the {budget_bytes / 2**30:.0f} GiB budget. Refused before loading.")
        if end - begin != need or begin < 0 or end > data_size:
            raise ModelLoadError(f"'{path.name}': tensor '{name}' does not fit the file (offsets {begin}-{end}, {need} bytes needed, {data_size} present). The file is corrupt or truncated.")
        spans.append((begin, end, name))
    spans.sort()
    for (_, e1, a), (b2, _, b) in zip(spans, spans[1:]):
        if b2 < e1:
            raise ModelLoadError(f"'{path.name}': tensors '{a}' and '{b}' overlap. The file is corrupt.")
    total = sum(e - b for b, e, _ in spans)
    if total > budget_bytes:
        raise ModelLoadError(f"'{path.name}' holds {total / 2**30:.1f} GiB of weights, over the {budget_bytes / 2**30:.0f} GiB budget.")
    return total
