"""Content-addressed, read-only file storage: `<root>/ab/abcdef...` named by the SHA-256 of the bytes.

A blob is written to a temp file in `<root>/tmp/` (named after the writing process), fsynced, made
read-only, `os.replace`d into place and its folder fsynced, so a crash leaves either the whole blob or
only a temp file that `sweep_temp` removes later. The same content is stored once.

`check` re-hashes a blob only when its file's status (inode, size, modification and change times) differs
from the last time it was found intact by this object: editing a file, even restoring its modification time
afterwards, changes its change time.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import socket
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from auditkit.hashing import sha256_file

_CHUNK = 1 << 20
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class StagedBlob:
    """A fully written, fsynced temp file and the hash of its bytes."""

    sha256: str
    size: int
    temp: Path


def process_alive(pid: int) -> bool:
    """True when a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def runner_id() -> str:
    """`host:pid` of this process: who owns a temp file or a pending run."""
    return f"{socket.gethostname()}:{os.getpid()}"


def runner_gone(runner: str) -> bool:
    """True when `runner` (a `runner_id()`) was a process on this machine that no longer exists."""
    host, _, pid = runner.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not process_alive(int(pid))


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in folder `path` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """Read-only blobs under `root`, addressed by SHA-256."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self._intact: dict[str, tuple[int, int, int, int]] = {}

    def path_for(self, sha256: str) -> Path:
        if len(sha256) != 64 or not set(sha256) <= _HEX:
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def relative(self, sha256: str) -> str:
        return f"{sha256[:2]}/{sha256}"

    def stage(self, source: bytes | str | Path | BinaryIO) -> StagedBlob:
        """Copy `source` (bytes, a file path or a binary file object) to a fsynced read-only temp file."""
        self.tmp.mkdir(parents=True, exist_ok=True)
        host, _, pid = runner_id().rpartition(":")
        temp = self.tmp / f"{host}_{pid}_{secrets.token_hex(8)}.part"
        h, size = hashlib.sha256(), 0
        try:
            with open(temp, "xb") as out:
                for chunk in _chunks(source):
                    out.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return StagedBlob(h.hexdigest(), size, temp)

    def commit(self, staged: StagedBlob) -> Path:
        """Move a staged blob into place (or drop it when the same content is already stored)."""
        final = self.path_for(staged.sha256)
        if final.exists():
            staged.temp.unlink(missing_ok=True)
            return final
        if not final.parent.exists():
            final.parent.mkdir(parents=True, exist_ok=True)
            fsync_dir(self.root)
        os.replace(staged.temp, final)
        fsync_dir(final.parent)
        self._intact[staged.sha256] = _status(final.stat())
        return final

    def check(self, sha256: str, size: int) -> str | None:
        """None when the blob is stored with this size and hash, else what is wrong with it."""
        path = self.path_for(sha256)
        try:
            st = path.stat()
        except FileNotFoundError:
            return f"is missing from {path.parent}"
        if not stat.S_ISREG(st.st_mode):
            return f"is not a file at {path}"
        if st.st_size != size:
            return f"has {st.st_size} bytes instead of {size}: it was altered"
        if self._intact.get(sha256) == _status(st):
            return None
        if sha256_file(path) != sha256:
            return "no longer matches its SHA-256: its bytes were altered"
        self._intact[sha256] = _status(st)
        return None

    def stored(self) -> Iterator[tuple[str, Path]]:
        """Every (sha256, path) blob present on disk."""
        if not self.root.exists():
            return
        for sub in sorted(self.root.iterdir()):
            if sub.is_dir() and len(sub.name) == 2 and set(sub.name) <= _HEX:
                for f in sorted(sub.iterdir()):
                    if len(f.name) == 64 and f.name.startswith(sub.name):
                        yield f.name, f

    def sweep_temp(self) -> int:
        """Remove temp files whose writing process is gone; return how many were removed."""
        if not self.tmp.exists():
            return 0
        removed = 0
        for f in self.tmp.iterdir():
            host, pid, _token = (f.name.rsplit("_", 2) + ["", ""])[:3]
            if runner_gone(f"{host}:{pid}"):
                f.unlink(missing_ok=True)
                removed += 1
        return removed


def _status(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _chunks(source: bytes | str | Path | BinaryIO) -> Iterator[bytes]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = memoryview(source)
        for i in range(0, len(data), _CHUNK):
            yield bytes(data[i:i + _CHUNK])
    elif isinstance(source, (str, Path)):
        with open(source, "rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk
    else:
        while chunk := source.read(_CHUNK):
            yield chunk
