"""What went wrong under the store, in one line: database and file-system failures become a `StoreError`
that names the problem (damaged file, full disk, read-only workspace, a file where a folder belongs) and the fix."""
from __future__ import annotations

import errno
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError

from auditkit.errors import AuditkitError


class StoreError(AuditkitError):
    """The audit store cannot do what was asked; the message says why and what to do."""


# SQLite primary result codes (the low byte of an extended code) and PostgreSQL SQLSTATE classes.
_SQLITE = {13: "full", 8: "read-only", 14: "cannot open", 26: "damaged", 11: "damaged", 10: "io"}
_POSTGRES = {"53100": "full", "25006": "read-only", "XX001": "damaged", "XX002": "damaged"}
_ERRNO = {errno.ENOSPC: "full", errno.EDQUOT: "full", errno.EROFS: "read-only", errno.EACCES: "read-only",
          errno.EPERM: "read-only", errno.ENOTDIR: "not a folder", errno.EEXIST: "not a folder",
          errno.EISDIR: "a folder"}


def _kind(exc: BaseException) -> str:
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None:
            return _SQLITE.get(code & 0xFF, "database")
        state = getattr(orig, "sqlstate", None) or ""
        if state.startswith("08"):
            return "connection"
        return _POSTGRES.get(state, "database")
    return _ERRNO.get(getattr(exc, "errno", None), "file")


def explain(exc: BaseException, where: str) -> StoreError:
    """A `StoreError` for a database or file-system failure of the store at `where` (a URL or a path)."""
    kind = _kind(exc)
    path = getattr(exc, "filename", None) or where
    if isinstance(exc, DBAPIError):
        detail = str(exc.orig).strip()
    else:
        detail = exc.strerror or str(exc)
        if kind == "file":
            return StoreError(f"the audit store cannot use {path} ({detail}): check the path and its permissions")
    if kind == "full":
        return StoreError(f"the disk holding the audit store ({path}) is full ({detail}): nothing was recorded by "
                          f"this step; free some space and run it again")
    if kind == "read-only":
        return StoreError(f"the audit store ({path}) is read-only ({detail}): make the workspace ($AUDITKIT_HOME) "
                          f"writable, or point AUDITKIT_DB_URL / --db at a writable copy")
    if kind == "cannot open":
        return StoreError(f"cannot open the audit store at {where} ({detail}): its folder is missing, is a file, "
                          f"or is not writable (SQLite writes its -wal and -shm files beside it); check the path "
                          f"or point AUDITKIT_DB_URL / --db elsewhere")
    if kind == "damaged":
        return StoreError(f"the audit store at {where} is damaged ({detail}): restore it from a backup "
                          f"(AuditStore.backup), or move it aside to start a new store; nothing was changed")
    if kind == "not a folder":
        return StoreError(f"{path} is a file where the audit store needs a folder ({detail}): move the file, or "
                          f"set AUDITKIT_HOME / AUDITKIT_DB_URL to a folder")
    if kind == "a folder":
        return StoreError(f"{path} is a folder where the audit store needs a file ({detail}): move the folder, or "
                          f"choose another path")
    if kind == "io":
        return StoreError(f"reading or writing the audit store at {where} failed ({detail}): check the disk "
                          f"(space, permissions, hardware), then run `python -m auditkit verify --startup`")
    if kind == "connection":
        return StoreError(f"cannot reach the audit database at {where} ({detail}): check that the server runs and "
                          f"the URL in AUDITKIT_DB_URL / --db is right")
    return StoreError(f"the audit store at {where} failed ({detail}): check the database and the workspace, then run "
                      f"`python -m auditkit verify --startup`")


@contextmanager
def translated(where: str) -> Iterator[None]:
    """Re-raise database and file-system errors inside the block as a `StoreError` (see `explain`)."""
    try:
        yield
    except (DBAPIError, OSError) as exc:
        raise explain(exc, where) from None
