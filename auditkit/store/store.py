"""`AuditStore`: audits, their inputs and results, artifacts, sign-offs and the hash-chained trail."""
from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

from sqlalchemy import Connection, select
from sqlalchemy.exc import OperationalError

from auditkit.config import Settings
from auditkit.hashing import sha256_bytes, sha256_file
from auditkit.store import schema, trail
from auditkit.store.blobs import BlobStore, runner_gone, runner_id
from auditkit.store.engine import StoreError, make_engine, read_connection, resolve_url, write_connection
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


class AuditStore:
    """Durable record of audits. Thread-safe: every call opens its own connection.

    The database is `url`, else `$AUDITKIT_DB_URL`, else SQLite at `<workspace>/auditkit.db`;
    artifacts live under `<workspace>/artifacts/`. With `create=False` a missing SQLite file is an error
    instead of a new empty store.
    """

    def __init__(self, url: str | None = None, settings: Settings | None = None, *, create: bool = True):
        self.settings = settings or Settings.from_env()
        self.url = resolve_url(url, self.settings)
        self.engine = make_engine(self.url)
        db = self.engine.url.database
        if not create and self.engine.dialect.name == "sqlite" and db not in (None, "", ":memory:") and not Path(db).exists():
            raise StoreError(f"there is no audit store at {db}: check --db / AUDITKIT_DB_URL / AUDITKIT_HOME, "
                             f"or run an audit first")
        self.blobs = BlobStore(self.settings.home / "artifacts")
        self._ensure_schema()

    # ----------------------------------------------------------------- schema
    def _ensure_schema(self) -> None:
        try:
            with write_connection(self.engine, lock_chain=False) as conn:
                schema.metadata.create_all(conn)
                row = conn.execute(select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")).first()
                if row is None:
                    conn.execute(schema.meta.insert().values(key="schema_version", value=str(schema.SCHEMA_VERSION)))
                    return
        except OperationalError as exc:
            raise StoreError(f"cannot open the audit store at {self._safe_url()}: {exc.orig}; check the path "
                             f"or set AUDITKIT_DB_URL to a writable database") from None
        found = int(row.value)
        if found > schema.SCHEMA_VERSION:
            raise StoreError(
                f"the audit store at {self._safe_url()} has schema version {found}, written by a newer AuditKit "
                f"(this version reads version {schema.SCHEMA_VERSION}): upgrade auditkit, or set AUDITKIT_DB_URL "
                f"to another store")
        if found < schema.SCHEMA_VERSION:
            raise StoreError(
                f"the audit store at {self._safe_url()} has schema version {found}, older than this AuditKit's "
                f"{schema.SCHEMA_VERSION}, and no migration is available: export it with an older AuditKit or "
                f"start a new store with AUDITKIT_DB_URL")

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    # ----------------------------------------------------------------- audits
    def create_audit(self, name: str = "", *, data_sha256: str | None = None, model_sha256: str | None = None,
                     columns: dict[str, Any] | None = None, actor: str = "") -> str:
        """Record a new audit as pending (before it runs); returns its id."""
        audit_id, ts = uuid.uuid4().hex, now()
        name = _text(name, "name", 300)
        with write_connection(self.engine) as conn:
            conn.execute(schema.audits.insert().values(id=audit_id, name=name, created=ts, updated=ts,
                                                       status="pending", error=None, runner=runner_id()))
            conn.execute(schema.inputs.insert().values(audit_id=audit_id, data_sha256=data_sha256,
                                                       model_sha256=model_sha256, columns=columns or {}))
            trail.append(conn, "audit.created", audit_id=audit_id, actor=actor,
                         detail={"name": name, "data_sha256": data_sha256, "model_sha256": model_sha256})
        return audit_id

    def complete_audit(self, audit_id: str, audit: dict[str, Any], *, actor: str = "") -> None:
        """Store the audit.json of a pending audit and mark it done, in one transaction."""
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
            conn.execute(schema.audits.update().where(schema.audits.c.id == audit_id)
                         .values(status="done", updated=now()))
            trail.append(conn, "audit.completed", audit_id=audit_id, actor=actor,
                         detail={"name": row.name, "result_sha256": digest, "data_sha256": data_sha,
                                 "model_sha256": model_sha})

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
            self._fail_if_pending(audit_id, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, actor)
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
        conn.execute(schema.audits.update().where(schema.audits.c.id == row.id)
                     .values(status="failed", error=reason, updated=now()))
        old = conn.execute(select(schema.inputs).where(schema.inputs.c.audit_id == row.id)).one()
        trail.append(conn, "audit.failed", audit_id=row.id, actor=actor,
                     detail={"name": row.name, "reason": reason, "data_sha256": old.data_sha256,
                             "model_sha256": old.model_sha256})

    def get(self, audit_id: str) -> AuditRecord:
        """One audit with its audit.json, sign-offs and artifacts."""
        with read_connection(self.engine) as conn:
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
        with read_connection(self.engine) as conn:
            return [_record(r) for r in conn.execute(q)]

    @staticmethod
    def _base_query():
        a, i = schema.audits, schema.inputs
        return (select(a, i.c.data_sha256, i.c.model_sha256, i.c.columns)
                .join(i, i.c.audit_id == a.c.id, isouter=True))

    # ----------------------------------------------------------------- artifacts
    def put_artifact(self, source: bytes | str | Path | BinaryIO, *, audit_id: str | None = None,
                     kind: str = "file", name: str = "", actor: str = "") -> str:
        """Store bytes, a file or a binary stream content-addressed and read-only; returns its SHA-256.

        The same content is stored once; with `audit_id` it is also linked to that audit.
        """
        staged = self.blobs.stage(source)
        self.blobs.commit(staged)
        sha = staged.sha256
        with write_connection(self.engine) as conn:
            known = conn.execute(select(schema.artifacts.c.sha256).where(schema.artifacts.c.sha256 == sha)).first()
            if known is None:
                conn.execute(schema.artifacts.insert().values(sha256=sha, size=staged.size,
                                                              path=self.blobs.relative(sha), created=now()))
            if audit_id is not None:
                key = (schema.audit_artifacts.c.audit_id == audit_id) & (schema.audit_artifacts.c.sha256 == sha) & (
                    schema.audit_artifacts.c.kind == kind)
                if conn.execute(select(schema.audit_artifacts.c.sha256).where(key)).first() is None:
                    if conn.execute(select(schema.audits.c.id).where(schema.audits.c.id == audit_id)).first() is None:
                        raise StoreError(f"no audit with id {audit_id!r} to attach the artifact to")
                    conn.execute(schema.audit_artifacts.insert().values(audit_id=audit_id, sha256=sha, kind=kind,
                                                                        name=_text(name, "name", 300)))
                    trail.append(conn, "artifact.stored", audit_id=audit_id, actor=actor,
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
        """Record a reviewer's approve/reject decision on a finished audit."""
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
            ev = trail.append(conn, "signoff", audit_id=audit_id, actor=reviewer,
                              detail={"reviewer": reviewer, "decision": decision, "comment": comment})
            new_id = conn.execute(schema.signoffs.insert().values(
                audit_id=audit_id, reviewer=reviewer, decision=decision, comment=comment, created=ev.created,
                event_seq=ev.seq)).inserted_primary_key[0]
        return SignOff(new_id, audit_id, reviewer, decision, comment, ev.created, ev.seq)

    def signoffs(self, audit_id: str) -> tuple[SignOff, ...]:
        """An audit's sign-offs in order, without loading its audit.json."""
        with read_connection(self.engine) as conn:
            return _signoffs(conn, audit_id)

    def log_event(self, kind: str, *, audit_id: str | None = None, actor: str = "",
                  detail: dict[str, Any] | None = None) -> Event:
        """Append an entry (e.g. `report.exported`) to the trail."""
        with write_connection(self.engine) as conn:
            return trail.append(conn, _text(kind, "kind", 64), audit_id=audit_id, actor=actor, detail=detail)

    def events(self, audit_id: str | None = None) -> list[Event]:
        """Trail entries in order, all or for one audit."""
        with read_connection(self.engine) as conn:
            return trail.load(conn, audit_id)

    def verify_chain(self, *, anchor: str | None = None) -> ChainCheck:
        """Check every trail entry's hash and link, and the stored rows against the entries; with `anchor`
        (an entry hash kept outside the database), also that the chain still contains that entry."""
        with read_connection(self.engine) as conn:
            return trail.check_chain(conn, anchor=anchor)

    def backup(self, dest: str | Path) -> Path:
        """A consistent copy of a SQLite store taken while it is in use (`VACUUM INTO`; never copy the live
        file). Other databases: use their own tools (e.g. `pg_dump`)."""
        if self.engine.dialect.name != "sqlite":
            raise StoreError(f"backup() copies SQLite stores; back up {self.engine.dialect.name} with its own tools "
                             f"(e.g. pg_dump)")
        target = Path(dest)
        if target.exists():
            raise StoreError(f"{target} already exists; choose a new file name for the backup")
        target.parent.mkdir(parents=True, exist_ok=True)
        raw = self.engine.raw_connection()  # outside any transaction, as VACUUM requires
        try:
            raw.driver_connection.execute("VACUUM INTO ?", (str(target),))
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
            with self.engine.connect() as conn:
                integrity = "; ".join(r[0] for r in conn.exec_driver_sql("PRAGMA integrity_check"))
        failed = []
        with write_connection(self.engine) as conn:
            cutoff = (datetime.now(timezone.utc) - timedelta(hours=stale_after_hours)).isoformat(timespec="microseconds")
            for row in conn.execute(select(schema.audits).where(schema.audits.c.status == "pending")).all():
                if runner_gone(row.runner):
                    why = "its process ended"
                elif row.updated < cutoff:
                    why = f"it was still pending after {stale_after_hours:g} hours"
                else:
                    continue
                self._fail(conn, row, f"the run stopped before it finished ({why}); run the audit again", "auditkit")
                failed.append(row.id)
        removed = self.blobs.sweep_temp()
        with read_connection(self.engine) as conn:
            rows = {r.sha256: r.size for r in conn.execute(select(schema.artifacts))}
        on_disk = dict(self.blobs.stored())
        damaged = [sha for sha, path in on_disk.items() if sha in rows and (
            path.stat().st_size != rows[sha] or (deep and sha256_file(path) != sha))]
        return StartupReport(
            integrity=integrity, failed_runs=tuple(failed), temp_files_removed=removed,
            orphan_blobs=tuple(sorted(set(on_disk) - set(rows))), missing_blobs=tuple(sorted(set(rows) - set(on_disk))),
            damaged_blobs=tuple(sorted(damaged)))


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
