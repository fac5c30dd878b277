"""The trail key: the secret that seals every trail entry (HMAC-SHA256), kept outside the database.

It comes from `$AUDITKIT_TRAIL_KEY`, else from `<workspace>/trail.key`, a file created with 0600 permissions on
first use. Whoever can write the database but does not hold the key cannot add, change or re-seal an entry.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from auditkit.store.blobs import fsync_dir
from auditkit.store.failures import StoreError

KEY_ENV = "AUDITKIT_TRAIL_KEY"
KEY_FILE = "trail.key"
MIN_KEY_CHARS = 32
_HOW = "python -c 'import secrets; print(secrets.token_hex(32))'"


@dataclass(frozen=True)
class TrailKey:
    """A trail key and where it came from (the variable's name or the file's path)."""

    secret: bytes
    source: str

    @property
    def id(self) -> str:
        """A fingerprint stored with the trail: tells a wrong key from a missing one without revealing it."""
        return hmac.new(self.secret, b"auditkit trail key id", hashlib.sha256).hexdigest()[:16]

    def seal(self, message: bytes) -> str:
        """HMAC-SHA256 of `message` under this key, as hex."""
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()


def load_key(home: Path, *, create: bool) -> TrailKey | None:
    """The key from `$AUDITKIT_TRAIL_KEY` or `<home>/trail.key`; with `create`, a new key file when there is
    neither (else None)."""
    if value := os.environ.get(KEY_ENV):
        return TrailKey(_checked(value.strip(), KEY_ENV), KEY_ENV)
    path = home / KEY_FILE
    if not path.exists() and create:
        _create(path)
    if not path.exists():
        return None
    if not path.is_file():
        raise StoreError(f"{path} is not a file: it must hold the trail key; move it aside")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise StoreError(f"the trail key {path} can be read by other users; restrict it with `chmod 600 {path}`")
    return TrailKey(_checked(path.read_text(encoding="utf-8").strip(), str(path)), str(path))


def _checked(text: str, source: str) -> bytes:
    if len(text) < MIN_KEY_CHARS:
        raise StoreError(f"the trail key in {source} has {len(text)} characters; use at least {MIN_KEY_CHARS} random "
                         f"characters, e.g. the output of {_HOW}")
    return text.encode("utf-8")


def _create(path: Path) -> None:
    """Write a new random key to `path` (0600), atomically: a concurrent creator's key wins, never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            pass
        fsync_dir(path.parent)
    finally:
        temp.unlink(missing_ok=True)
