"""Database engine setup: SQLite tuned for safe concurrent writes, or any SQLAlchemy URL."""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import NullPool, StaticPool

from auditkit.config import Settings
from auditkit.store import schema
from auditkit.store.failures import StoreError, translated

__all__ = ["BUSY_TIMEOUT_MS", "DB_URL_ENV", "StoreError", "describe", "make_engine", "read_connection",
           "resolve_url", "sqlite_file", "write_connection"]

DB_URL_ENV = "AUDITKIT_DB_URL"
BUSY_TIMEOUT_MS = 30_000
_URL_FIX = (f"set {DB_URL_ENV} (or --db) to a URL such as sqlite:////path/auditkit.db or "
            f"postgresql+psycopg://user@host/db, or unset it to use the workspace's SQLite file")


def resolve_url(url: str | None, settings: Settings) -> str:
    """`url`, else `$AUDITKIT_DB_URL`, else SQLite at `<workspace>/auditkit.db`."""
    return url or os.environ.get(DB_URL_ENV) or f"sqlite:///{settings.home / 'auditkit.db'}"


def make_engine(url: str) -> Engine:
    """An engine that opens one connection per operation.

    SQLite: WAL journal, `busy_timeout`, `synchronous=FULL`, foreign keys on, and `BEGIN IMMEDIATE` for
    connections opened by `write_connection` (so writers queue on the lock instead of failing).
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"the database URL {url!r} (from --db or {DB_URL_ENV}) is not a database URL. "
                         f"Fix: {_URL_FIX}") from None
    if parsed.get_backend_name() != "sqlite":
        shown = parsed.render_as_string(hide_password=True)
        try:
            return create_engine(parsed, pool_pre_ping=True)
        except NoSuchModuleError:
            raise StoreError(f"the database URL {shown} (from --db or {DB_URL_ENV}) names the database kind "
                             f"{parsed.drivername!r}, which is not one AuditKit can use. Fix: {_URL_FIX}") from None
        except ImportError as exc:
            raise StoreError(f"the database URL {shown} (from --db or {DB_URL_ENV}) needs the Python driver "
                             f"{exc.name or parsed.drivername!r}, which is not installed. Fix: install it, or "
                             f"{_URL_FIX}") from None
    path = sqlite_file(parsed)
    memory = path is None
    if path is not None and parsed.query.get("mode") != "ro":
        with translated(str(path.parent)):
            path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        parsed,
        poolclass=StaticPool if memory else NullPool,
        connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun explicitly below
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("auditkit_write") else "BEGIN")

    return engine


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL (plain, or `sqlite:///file:PATH?mode=ro&uri=true`); None in memory."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.query.get("uri") in ("true", "1") and url.database.startswith("file:"):
        return Path(url.database[len("file:"):])
    return Path(url.database)


def describe(engine: Engine) -> str:
    """Where the store is, for messages: a SQLite file's path, else the URL without its password."""
    path = sqlite_file(engine.url)
    return str(path) if path is not None else engine.url.render_as_string(hide_password=True)


@contextmanager
def write_connection(engine: Engine, *, lock_chain: bool = True) -> Iterator[Connection]:
    """A connection inside one write transaction, committed on success and rolled back on error.

    SQLite takes the write lock at BEGIN; other databases lock the schema_version row, which
    serialises appends to the hash-chained event log. Database failures become a `StoreError`.
    """
    with translated(describe(engine)), engine.connect() as conn:
        conn.execution_options(auditkit_write=True)
        with conn.begin():
            if lock_chain and engine.dialect.name != "sqlite":
                conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
                             .with_for_update())
            yield conn


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A connection inside one read transaction (a consistent snapshot); failures become a `StoreError`."""
    with translated(describe(engine)), engine.connect() as conn, conn.begin():
        yield conn
