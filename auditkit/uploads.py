"""Uploaded bytes stored once, content-addressed and read-only, in the workspace."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from auditkit.access import current_principal, require
from auditkit.config import Settings
from auditkit.hashing import sha256_bytes

_SAFE_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,10}$")


def store_upload(data: bytes, name: str, *, settings: Settings | None = None) -> Path:
    """Write `data` to `uploads/<sha256><suffix>` (temp file, fsync, rename); the client's name is never used as a path.

    The acting principal (`auditkit.access`) must have the role to upload, else `AccessDenied` before anything is
    written."""
    require(current_principal(), "upload")
    settings = settings or Settings.from_env()
    suffix = Path(name).suffix.lower()
    suffix = suffix if _SAFE_SUFFIX.match(suffix) else ""
    folder = settings.path("uploads")
    target = folder / f"{sha256_bytes(data)}{suffix}"
    if target.is_file():
        return target
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
