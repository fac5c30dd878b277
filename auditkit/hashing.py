"""Content hashes: the keys of every cache and the evidence in every report."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

_CHUNK = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """SHA-256 hex digest of `data`."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_tree(path: str | Path) -> str:
    """SHA-256 over a folder: relative paths and file contents, in sorted order."""
    root = Path(path)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(p.relative_to(root).as_posix().encode() + b"\0")
        h.update(sha256_file(p).encode())
    return h.hexdigest()


def sha256_path(path: str | Path) -> str:
    """Hash of a file or of a folder's tree."""
    p = Path(path)
    return sha256_tree(p) if p.is_dir() else sha256_file(p)


def params_hash(params: dict[str, Any]) -> str:
    """Stable SHA-256 of JSON-serialisable settings (keys sorted)."""
    return sha256_bytes(json.dumps(params, sort_keys=True, default=str).encode())


def sha256_source(source: str | Path | bytes) -> str:
    """Hash of bytes given directly, or of the file or folder a path names."""
    return sha256_bytes(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else sha256_path(source)
