"""`AuditStore`: audits, their inputs and results, artifacts, sign-offs and the hash-chained trail."""
from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from sqlalchemy import Connection, func, inspect, select

from auditkit.access import current_principal, require
from auditkit.config import Settings
from auditkit.hashing import sha256_bytes, sha256_file
from auditkit.store import schema, trail
from auditkit.store.blobs import BlobStore, runner_gone, runner_id
from auditkit.store.engine import (StoreError, describe, make_engine, read_connection, resolve_url, sqlite_file,
                                   write_connection)
from auditkit.store.failures import translated
from auditkit.store.keys import KEY_ENV, KEY_FILE, TrailKey, load_key
from auditkit.store.trail import ChainCheck, Event, canonical_json, now

Status = Literal["pending", "done", "failed"]
Decision = Literal["approve", "reject"]


@dataclass(frozen=True)
class SignOff:
    id: int
    audit_id: str
    reviewer: str
    decision: Decision
    comment: str
    created: str
    event_seq: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "audit_id": self.audit_id, "reviewer": self.reviewer, "decision": self.decision,
                "comment": self.comment, "created": self.created, "event_seq": self.event_seq}


@dataclass(frozen=True)
class ArtifactRef:
    sha256: str
    kind: str
    name: str
    size: int

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "kind": self.kind, "name": self.name, "size": self.size}


@dataclass(frozen=True)
class AuditRecord:
    """One stored audit. `audit` (the audit.json dict), sign-offs and artifacts are filled by `get`."""

    id: str
    name: str
    created: str
    updated: str
    status: Status
    error: str | None
    data_sha256: str | None
    model_sha256: str | None
    columns: dict[str, Any]
    audit: dict[str, Any] | None = None
    signoffs: tuple[SignOff, ...] = ()
    artifacts: tuple[ArtifactRef, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "created": self.created, "updated": self.updated,
                "status": self.status, "error": self.error, "data_sha256": self.data_sha256,
                "model_sha256": self.model_sha256, "columns": self.columns, "audit": self.audit,
                "signoffs": [s.to_dict() for s in self.signoffs], "artifacts": [a.to_dict() for a in self.artifacts]}


@dataclass(frozen=True)
class StartupReport:
    """What `startup_check` found and repaired."""

    integrity: str
    failed_runs: tuple[str, ...]
    temp_files_removed: int
    orphan_blobs: tuple[str, ...]
    missing_blobs: tuple[str, ...]
    damaged_blobs: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """False when the database or a stored blob is damaged (orphans and repaired runs are fine)."""
        return self.integrity in ("ok", "not applicable") and not self.missing_blobs and not self.damaged_blobs

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "integrity": self.integrity, "failed_runs": list(self.failed_runs),
                "temp_files_removed": self.temp_files_removed, "orphan_blobs": list(self.orphan_blobs),
                "missing_blobs": list(self.missing_blobs), "damaged_blobs": list(self.damaged_blobs)}


_MAX_TEXT = 10_000
_HEX = frozenset("0123456789abcdef")


class AuditStore:
    """Durable record of audits. Thread-safe: every call opens its own connection.

    The database is `url`, else `$AUDITKIT_DB_URL`, else SQLite at `<workspace>/auditkit.db`;
    artifacts live under `<workspace>/artifacts/`. With `create=False` a missing SQLite file is an error
    instead of a new empty store. Opening a store needs its trail key (`$AUDITKIT_TRAIL_KEY`, else
    `<workspace>/trail.key`, created on first use); a store whose key is missing or different is refused.
    """

    def __init__(self, url: str | None = None, settings: Settings | None = None, *, create: bool = True):
        self.settings = settings or Settings.from_env()
        self.url = resolve_url(url, self.settings)
        self.engine = make_engine(self.url)
        self._check_file(create)
        self.blobs = BlobStore(self.settings.home / "artifacts")
        self.key = self._open()

    # ----------------------------------------------------------------- schema and key
    def _check_file(self, create: bool) -> None:
        path = sqlite_file(self.engine.url)
        if path is None:
            return
        if not create and not path.exists():
            raise StoreError(f"there is no audit store at {path}: check --db / AUDITKIT_DB_URL / AUDITKIT_HOME, "
                             f"or run an audit first")
        if path.is_file() and _stays_empty(path):
            raise StoreError(f"the audit store at {path} is an empty file (0 bytes): it was truncated; restore it "
                             f"from a backup, or delete the empty file to start a new store")

    def _open(self) -> TrailKey:
        """Check the schema version and the trail key; a new store gets its tables and key record. An existing
        store is only read here, so a read-only one can still be verified and listed."""
        with read_connection(self.engine) as conn:
            found = _meta(conn)
            if "schema_version" in found:
                self._check_version(found["schema_version"])
            if "trail_key_id" in found:
                return self._trail_key(conn, found["trail_key_id"], 0)
        with write_connection(self.engine, lock_chain=False) as conn:
            schema.metadata.create_all(conn)
            found = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).scalar()
            if found is None:
                conn.execute(schema.meta.insert().values(key="schema_version", value=str(schema.SCHEMA_VERSION)))
            else:
                self._check_version(found)
            recorded = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "trail_key_id")).scalar()
            entries = conn.execute(select(func.count()).select_from(schema.events)).scalar()
            return self._trail_key(conn, recorded, entries)

    def _check_version(self, found: str) -> None:
        version = int(found) if str(found).isdigit() else -1
        if version > schema.SCHEMA_VERSION:
            raise StoreError(
                f"the audit store at {describe(self.engine)} has schema version {version}, written by a newer "
                f"AuditKit (this version reads version {schema.SCHEMA_VERSION}): upgrade auditkit, or set "
                f"AUDITKIT_DB_URL to another store")
        if version < schema.SCHEMA_VERSION:
            raise StoreError(
                f"the audit store at {describe(self.engine)} has schema version {found}, whose trail is not sealed "
                f"with a key and does not cover every row, so this AuditKit (schema {schema.SCHEMA_VERSION}) cannot "
                f"vouch for it: keep it as an archive (AuditKit versions before the keyed trail still read it) and "
                f"start a new store, by moving the file aside or setting AUDITKIT_DB_URL")

    def _trail_key(self, conn: Connection, recorded: str | None, entries: int) -> TrailKey:
        home = self.settings.home
        where = f"{KEY_ENV} or {home / KEY_FILE}"
        if recorded is None and entries:
            raise StoreError(f"the audit store at {describe(self.engine)} has {entries} trail entries but no record "
                             f"of the key that sealed them (its meta table was altered): restore it from a backup")
        with translated(str(home / KEY_FILE)):
            key = load_key(home, create=recorded is None)
        if key is None:
            raise StoreError(f"the trail key of the audit store at {describe(self.engine)} is missing (looked in "
                             f"{where}): restore the trail.key file from your backup or set {KEY_ENV}; a new key "
                             f"would make every existing entry fail verification")
        if recorded is None:
            conn.execute(schema.meta.insert().values(key="trail_key_id", value=key.id))
        elif key.id != recorded:
            raise StoreError(f"the trail key from {key.source} is not the key that sealed the audit store at "
                             f"{describe(self.engine)} (key id {key.id}, the store records {recorded}): use the "
                             f"store's own key ({where}), or the store's key record was altered")
        return key

    # ----------------------------------------------------------------- audits
    def create_audit(self, name: str = "", *, data_sha256: str | None = None, model_sha256: str | None = None,
                     columns: dict[str, Any] | None = None, actor: str = "") -> str:
        """Record a new audit as pending (before it runs); returns its id. Needs the acting principal's role to run
        audits (`auditkit.access`), as do `complete_audit` and `record_audit`."""
        require(current_principal(), "run")
        audit_id, ts = uuid.uuid4().hex, now()
        name = _text(name, "name", 300)
        with write_connection(self.engine) as conn:
            conn.execute(schema.audits.insert().values(id=audit_id, name=name, created=ts, updated=ts,
                                                       status="pending", error=None, runner=runner_id()))
            conn.execute(schema.inputs.insert().values(audit_id=audit_id, data_sha256=data_sha256,
                                                       model_sha256=model_sha256, columns=columns or {}))
            trail.append(conn, self.key, "audit.created", audit_id=audit_id, actor=actor, created=ts,
                         detail={"name": name, "data_sha256": data_sha256, "model_sha256": model_sha256},
                         wrote=[("audits", {"id": audit_id}), ("inputs", {"audit_id": audit_id})])
        return audit_id

    def complete_audit(self, audit_id: str, audit: dict[str, Any], *, actor: str = "") -> None:
        """Store the audit.json of a pending audit and mark it done, in one transaction."""
        require(current_principal(), "run")
        text = _dump(audit)
        inp = audit.get("inputs") if isinstance(audit.get("inputs"), dict) else {}
        with write_connection(self.engine) as conn:
            row = self._pending(conn, audit_id)
            old = conn.execute(select(schema.inputs).where(schema.inputs.c.audit_id == audit_id)).one()
            data_sha = inp.get("data_sha256") or old.data_sha256
            model_sha = inp.get("model_sha256") or old.model_sha256
            columns = inp.get("columns") if isinstance(inp.get("columns"), dict) else old.columns
            conn.execute(schema.inputs.update().where(schema.inputs.c.audit_id == audit_id)
                         .values(data_sha256=data_sha, model_sha256=model_sha, columns=columns))
            digest = sha256_bytes(text.encode("utf-8"))
            conn.execute(schema.results.insert().values(audit_id=audit_id, sha256=digest, audit_json=text))
            ts = now()
            conn.execute(schema.audits.update().where(schema.audits.c.id == audit_id)
                         .values(status="done", updated=ts))
            trail.append(conn, self.key, "audit.completed", audit_id=audit_id, actor=actor, created=ts,
                         detail={"name": row.name, "result_sha256": digest, "data_sha256": data_sha,
                                 "model_sha256": model_sha},
                         wrote=[("audits", {"id": audit_id}), ("inputs", {"audit_id": audit_id}),
                                ("results", {"audit_id": audit_id})])

    def fail_audit(self, audit_id: str, reason: str, *, actor: str = "") -> None:
        """Mark a pending audit failed with a reason."""
        with write_connection(self.engine) as conn:
            row = self._pending(conn, audit_id)
            self._fail(conn, row, _text(reason, "reason", _MAX_TEXT), actor)

    def record_audit(self, audit: dict[str, Any], name: str = "", *, actor: str = "") -> str:
        """Create and complete an audit from a finished audit.json dict; returns its id."""
        inp = audit.get("inputs") if isinstance(audit.get("inputs"), dict) else {}
        audit_id = self.create_audit(name, data_sha256=inp.get("data_sha256"), model_sha256=inp.get("model_sha256"),
                                     columns=inp.get("columns") if isinstance(inp.get("columns"), dict) else {},
                                     actor=actor)
        self.complete_audit(audit_id, audit, actor=actor)
        return audit_id

    @contextmanager
    def recording(self, name: str = "", *, data_sha256: str | None = None, model_sha256: str | None = None,
                  columns: dict[str, Any] | None = None, actor: str = "") -> Iterator[str]:
        """Create a pending audit and yield its id; call `complete_audit(id, audit)` inside the block.

        An exception in the block marks the audit failed with the error's message (and is re-raised);
        a block that ends without completing the audit marks it failed too.
        """
        audit_id = self.create_audit(name, data_sha256=data_sha256, model_sha256=model_sha256, columns=columns,
                                     actor=actor)
        try:
            yield audit_id
        except BaseException as exc:
            try:
                self._fail_if_pending(audit_id, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                                      actor)
            except StoreError:  # e.g. the disk is still full: the run's own error says more; start-up marks it
                pass
            raise
        self._fail_if_pending(audit_id, "the run ended without results", actor)

    def _fail_if_pending(self, audit_id: str, reason: str, actor: str) -> None:
        with write_connection(self.engine) as conn:
            row = conn.execute(select(schema.audits).where(schema.audits.c.id == audit_id)).first()
            if row is not None and row.status == "pending":
                self._fail(conn, row, reason[:_MAX_TEXT], actor)

    def _pending(self, conn: Connection, audit_id: str) -> Any:
        row = conn.execute(select(schema.audits).where(schema.audits.c.id == audit_id)).first()
        if row is None:
            raise StoreError(f"no audit with id {audit_id!r}; `python -m auditkit history` lists them")
        if row.status != "pending":
            raise StoreError(f"audit {audit_id} is already {row.status}; start a new audit to run it again")
        return row

    def _fail(self, conn: Connection, row: Any, reason: str, actor: str) -> None:
        ts = now()
        conn.execute(schema.audits.update().where(schema.audits.c.id == row.id)
                     .values(status="failed", error=reason, updated=ts))
        old = conn.execute(select(schema.inputs.c.data_sha256, schema.inputs.c.model_sha256)
                           .where(schema.inputs.c.audit_id == row.id)).one()
        trail.append(conn, self.key, "audit.failed", audit_id=row.id, actor=actor, created=ts,
                     detail={"name": row.name, "reason": reason, "data_sha256": old.data_sha256,
                             "model_sha256": old.model_sha256},
                     wrote=[("audits", {"id": row.id})])

    def get(self, audit_id: str) -> AuditRecord:
        """One audit with its audit.json, sign-offs and artifacts."""
        with read_connection(self.engine) as conn, self._readable():
            row = conn.execute(self._base_query().where(schema.audits.c.id == audit_id)).first()
            if row is None:
                raise StoreError(f"no audit with id {audit_id!r}; `python -m auditkit history` lists them")
            res = conn.execute(select(schema.results.c.audit_json)
                               .where(schema.results.c.audit_id == audit_id)).scalar_one_or_none()
            signs = _signoffs(conn, audit_id)
            arts = tuple(ArtifactRef(a.sha256, a.kind, a.name, a.size) for a in conn.execute(
                select(schema.audit_artifacts, schema.artifacts.c.size)
                .join(schema.artifacts, schema.artifacts.c.sha256 == schema.audit_artifacts.c.sha256)
                .where(schema.audit_artifacts.c.audit_id == audit_id)))
            return _record(row, audit=json.loads(res) if res is not None else None, signoffs=signs, artifacts=arts)

    def list(self, *, status: Status | None = None, name_contains: str | None = None,
             data_sha256: str | None = None, model_sha256: str | None = None,
             since: str | None = None, until: str | None = None, limit: int = 200) -> list[AuditRecord]:
        """Audits, newest first, filtered; `since`/`until` compare against ISO-8601 creation times."""
        a, i = schema.audits.c, schema.inputs.c
        q = self._base_query().order_by(a.created.desc()).limit(max(1, int(limit)))
        if status:
            q = q.where(a.status == status)
        if name_contains:
            q = q.where(a.name.contains(name_contains, autoescape=True))
        if data_sha256:
            q = q.where(i.data_sha256 == data_sha256)
        if model_sha256:
            q = q.where(i.model_sha256 == model_sha256)
        if since:
            q = q.where(a.created >= since)
        if until:
            q = q.where(a.created <= until)
        with read_connection(self.engine) as conn, self._readable():
            return [_record(r) for r in conn.execute(q)]

    @contextmanager
    def _readable(self) -> Iterator[None]:
        """A stored value that no longer parses (written outside AuditKit) becomes a `StoreError`."""
        try:
            yield
        except (TypeError, ValueError) as exc:
            raise StoreError(f"a stored row of the audit store at {describe(self.engine)} is unreadable ({exc}): it "
                             f"was altered outside AuditKit; `python -m auditkit verify` names it") from None

    @staticmethod
    def _base_query():
        a, i = schema.audits, schema.inputs
        return (select(a, i.c.data_sha256, i.c.model_sha256, i.c.columns)
                .join(i, i.c.audit_id == a.c.id, isouter=True))

    # ----------------------------------------------------------------- artifacts
    def put_artifact(self, source: bytes | str | Path | BinaryIO, *, audit_id: str | None = None,
                     kind: str = "file", name: str = "", actor: str = "") -> str:
        """Store bytes, a file or a binary stream content-addressed and read-only; returns its SHA-256.

        The same content is stored once; with `audit_id` it is also linked to that audit. The file is in place
        before its rows and trail entry are written (a failure in between leaves an orphan blob, never a row
        without its file).
        """
        name = _text(name, "name", 300)
        with translated(str(self.blobs.root)):
            staged = self.blobs.stage(source)
            self.blobs.commit(staged)
        sha = staged.sha256
        with write_connection(self.engine) as conn:
            wrote: list[tuple[str, dict[str, Any]]] = []
            known = conn.execute(select(schema.artifacts.c.sha256).where(schema.artifacts.c.sha256 == sha)).first()
            if known is None:
                conn.execute(schema.artifacts.insert().values(sha256=sha, size=staged.size,
                                                              path=self.blobs.relative(sha), created=now()))
                wrote.append(("artifacts", {"sha256": sha}))
            if audit_id is not None:
                link = {"audit_id": audit_id, "sha256": sha, "kind": kind}
                key = (schema.audit_artifacts.c.audit_id == audit_id) & (schema.audit_artifacts.c.sha256 == sha) & (
                    schema.audit_artifacts.c.kind == kind)
                if conn.execute(select(schema.audit_artifacts.c.sha256).where(key)).first() is None:
                    if conn.execute(select(schema.audits.c.id).where(schema.audits.c.id == audit_id)).first() is None:
                        raise StoreError(f"no audit with id {audit_id!r} to attach the artifact to")
                    conn.execute(schema.audit_artifacts.insert().values(**link, name=name))
                    wrote.append(("audit_artifacts", link))
            if wrote:
                trail.append(conn, self.key, "artifact.stored", audit_id=audit_id, actor=actor, wrote=wrote,
                             detail={"sha256": sha, "kind": kind, "name": name, "size": staged.size})
        return sha

    def artifact_path(self, sha256: str) -> Path:
        """Where a stored artifact's bytes are (read-only)."""
        path = self.blobs.path_for(sha256)
        if not path.exists():
            raise StoreError(f"artifact {sha256} is not in the store at {self.blobs.root}")
        return path

    def read_artifact(self, sha256: str) -> bytes:
        """A stored artifact's bytes, checked against its hash."""
        data = self.artifact_path(sha256).read_bytes()
        if sha256_bytes(data) != sha256:
            raise StoreError(f"artifact {sha256} is damaged on disk (its content no longer matches its hash)")
        return data

    # ----------------------------------------------------------------- sign-off and trail
    def sign_off(self, audit_id: str, reviewer: str, decision: Decision, comment: str = "") -> SignOff:
        """Record a reviewer's approve/reject decision on a finished audit; the acting principal
        (`auditkit.access`) needs the role to sign off."""
        require(current_principal(), "sign_off")
        reviewer = _text(reviewer, "reviewer", 200).strip()
        if not reviewer:
            raise StoreError("a sign-off needs the reviewer's name")
        if decision not in ("approve", "reject"):
            raise StoreError(f"decision must be 'approve' or 'reject', got {decision!r}")
        comment = _text(comment, "comment", _MAX_TEXT)
        with write_connection(self.engine) as conn:
            row = conn.execute(select(schema.audits).where(schema.audits.c.id == audit_id)).first()
            if row is None:
                raise StoreError(f"no audit with id {audit_id!r}; `python -m auditkit history` lists them")
            if row.status != "done":
                raise StoreError(f"audit {audit_id} is {row.status}; only finished audits can be signed off")
            seq, ts = trail.tip(conn)[0], now()
            new_id = conn.execute(schema.signoffs.insert().values(
                audit_id=audit_id, reviewer=reviewer, decision=decision, comment=comment, created=ts,
                event_seq=seq)).inserted_primary_key[0]
            trail.append(conn, self.key, "signoff", audit_id=audit_id, actor=reviewer, created=ts,
                         detail={"reviewer": reviewer, "decision": decision, "comment": comment},
                         wrote=[("signoffs", {"id": new_id})])
        return SignOff(new_id, audit_id, reviewer, decision, comment, ts, seq)

    def signoffs(self, audit_id: str) -> tuple[SignOff, ...]:
        """An audit's sign-offs in order, without loading its audit.json."""
        with read_connection(self.engine) as conn:
            return _signoffs(conn, audit_id)

    def log_event(self, kind: str, *, audit_id: str | None = None, actor: str = "",
                  detail: dict[str, Any] | None = None) -> Event:
        """Append an entry (e.g. `report.exported`) to the trail."""
        with write_connection(self.engine) as conn:
            return trail.append(conn, self.key, _text(kind, "kind", 64), audit_id=audit_id, actor=actor,
                                detail=detail)

    def events(self, audit_id: str | None = None) -> list[Event]:
        """Trail entries in order, all or for one audit."""
        with read_connection(self.engine) as conn:
            return trail.load(conn, audit_id)

    def verify_chain(self, *, head: str | None = None) -> ChainCheck:
        """Check every trail entry's number, link and seal, every stored row against the entries that wrote it,
        and every artifact file against its hash; with `head` (a `ChainCheck.head` kept outside the database),
        also that the trail still leads to that entry."""
        if head is not None and (len(head) != 64 or not set(head) <= _HEX):
            raise StoreError(f"a head is the 64-hex-digit seal that `verify` printed, got {head!r}")
        with read_connection(self.engine) as conn:
            return trail.check_chain(conn, self.key, self.blobs, head=head)

    def backup(self, dest: str | Path) -> Path:
        """A consistent copy of a SQLite store taken while it is in use (`VACUUM INTO`; never copy the live
        file). Other databases: use their own tools (e.g. `pg_dump`)."""
        if self.engine.dialect.name != "sqlite":
            raise StoreError(f"backup() copies SQLite stores; back up {self.engine.dialect.name} with its own tools "
                             f"(e.g. pg_dump)")
        target = Path(dest)
        if target.exists():
            raise StoreError(f"{target} already exists; choose a new file name for the backup")
        with translated(str(target)):
            target.parent.mkdir(parents=True, exist_ok=True)
            raw = self.engine.raw_connection()  # outside any transaction, as VACUUM requires
            try:
                raw.driver_connection.execute("VACUUM INTO ?", (str(target),))
            except sqlite3.Error as exc:
                raise StoreError(f"cannot write the backup {target} ({exc}): check that its folder is writable "
                                 f"and has room for a copy of the store") from None
            finally:
                raw.close()
        return target

    # ----------------------------------------------------------------- start-up
    def startup_check(self, *, deep: bool = False, stale_after_hours: float = 24.0) -> StartupReport:
        """Run at start: database integrity, runs left half-way (marked failed), stale temp files (removed),
        orphan and missing blobs; with `deep`, re-hash every blob.

        A pending run is left half-way when its process on this machine is gone, or (for runs started on
        another machine or container) when it has been pending for more than `stale_after_hours`.
        """
        integrity = "not applicable"
        if self.engine.dialect.name == "sqlite":
            with translated(describe(self.engine)), self.engine.connect() as conn:
                integrity = "; ".join(r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check"))
        failed = []
        with write_connection(self.engine) as conn:
            cutoff = (datetime.now(timezone.utc) - timedelta(hours=stale_after_hours)).isoformat(timespec="microseconds")
            for row in conn.execute(select(schema.audits).where(schema.audits.c.status == "pending")).all():
                if runner_gone(row.runner):
                    why = "its process ended"
                elif str(row.updated) < cutoff:
                    why = f"it was still pending after {stale_after_hours:g} hours"
                else:
                    continue
                self._fail(conn, row, f"the run stopped before it finished ({why}); run the audit again", "auditkit")
                failed.append(row.id)
        with read_connection(self.engine) as conn:
            rows = {r.sha256: r.size for r in conn.execute(select(schema.artifacts))}
        with translated(str(self.blobs.root)):
            removed = self.blobs.sweep_temp()
            on_disk = dict(self.blobs.stored())
            damaged = [sha for sha, path in on_disk.items() if sha in rows and (
                path.stat().st_size != rows[sha] or (deep and sha256_file(path) != sha))]
        return StartupReport(
            integrity=integrity, failed_runs=tuple(failed), temp_files_removed=removed,
            orphan_blobs=tuple(sorted(set(on_disk) - set(rows))), missing_blobs=tuple(sorted(set(rows) - set(on_disk))),
            damaged_blobs=tuple(sorted(damaged)))


def _meta(conn: Connection) -> dict[str, str]:
    """The store's meta rows; empty before its tables exist."""
    if not inspect(conn).has_table(schema.meta.name):
        return {}
    return {r.key: r.value for r in conn.execute(select(schema.meta))}


def _stays_empty(path: Path, wait: float = 0.5) -> bool:
    """True when a SQLite file has no bytes and gains none within `wait` seconds (a store being created gets
    its header within milliseconds; a truncated one never does)."""
    deadline = time.monotonic() + wait
    while path.stat().st_size == 0:
        if time.monotonic() > deadline:
            return True
        time.sleep(0.05)
    return False


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise StoreError(f"{what} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise StoreError(f"{what} is {len(value)} characters long; the limit is {limit}")
    return value


def _dump(audit: dict[str, Any]) -> str:
    if not isinstance(audit, dict):
        raise StoreError(f"an audit result must be a dict (the audit.json), got {type(audit).__name__}")
    try:
        return canonical_json(audit)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"the audit result cannot be stored as JSON ({exc}); convert it with to_dict() first") from None


def _signoffs(conn: Connection, audit_id: str) -> tuple[SignOff, ...]:
    rows = conn.execute(select(schema.signoffs).where(schema.signoffs.c.audit_id == audit_id)
                        .order_by(schema.signoffs.c.id))
    return tuple(SignOff(s.id, s.audit_id, s.reviewer, s.decision, s.comment, s.created, s.event_seq) for s in rows)


def _record(r: Any, **extra: Any) -> AuditRecord:
    return AuditRecord(id=r.id, name=r.name, created=r.created, updated=r.updated, status=r.status, error=r.error,
                       data_sha256=r.data_sha256, model_sha256=r.model_sha256, columns=r.columns or {}, **extra)
