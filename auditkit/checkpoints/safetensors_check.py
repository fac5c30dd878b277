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


def check_safetensors(path: Path, *, budget_bytes: int) -> int:
    """Check header length, dtypes, shapes and offsets against the file and a memory budget; return the data size."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        raw_len = f.read(8)
        if len(raw_len) < 8:
            raise ModelLoadError(f"'{path.name}' is too short to be a safetensors file. Fix: re-save the weights.")
        (n,) = struct.unpack("<Q", raw_len)
        if n > _MAX_HEADER or n > size - 8:
            raise ModelLoadError(f"'{path.name}' declares a {n}-byte header, larger than the file allows. The file is corrupt or truncated.")
        try:
            header = json.loads(f.read(n))
        except ValueError:
            raise ModelLoadError(f"'{path.name}' has an unreadable header. Fix: re-save the weights with safetensors.") from None
    data_size = size - 8 - n
    spans = []
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        try:
            width = _DTYPE_BYTES[meta["dtype"]]
            shape = [int(d) for d in meta["shape"]]
            begin, end = (int(o) for o in meta["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ModelLoadError(f"'{path.name}': tensor '{name}' has a malformed header entry.") from None
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
