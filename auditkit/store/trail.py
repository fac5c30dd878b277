"""The audit trail: an append-only event log where each entry is sealed with the trail key and holds the seal
of the one before it.

Entry seal = HMAC-SHA256 under the trail key (`keys.py`) of the JSON list
[seq, created, audit_id, kind, actor, detail, rows, prev_hash], where detail is the canonical JSON text as stored
and rows the images of every row the entry wrote (`evidence.py`). Changing, inserting or deleting an entry breaks
the chain at that entry, and forging one needs the key; the rows are then checked against what the entries wrote.
`check_chain` names what changed.
"""
from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, select

from auditkit.store import evidence, schema
from auditkit.store.blobs import BlobStore
from auditkit.store.keys import TrailKey

GENESIS = "0" * 64


def now() -> str:
    """The current UTC time as ISO-8601 with microseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def canonical_json(value: Any) -> str:
    """Deterministic JSON text (sorted keys, no spaces); numpy scalars and arrays become plain values."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_plain)


def _plain(value: Any) -> Any:
    for attr in ("tolist", "item"):
        if hasattr(value, attr):
            return getattr(value, attr)()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def entry_message(seq: int, created: str, audit_id: str | None, kind: str, actor: str, detail: str, rows: str,
                  prev_hash: str) -> bytes:
    """The bytes an entry's seal covers (a value of an unexpected type, written outside AuditKit, by its repr)."""
    return json.dumps([seq, created, audit_id, kind, actor, detail, rows, prev_hash], default=repr).encode("utf-8")


@dataclass(frozen=True)
class Event:
    """One trail entry."""

    seq: int
    created: str
    audit_id: str | None
    kind: str
    actor: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "created": self.created, "audit_id": self.audit_id, "kind": self.kind,
                "actor": self.actor, "detail": self.detail, "prev_hash": self.prev_hash, "hash": self.hash}


def tip(conn: Connection) -> tuple[int, str]:
    """The next entry's number and the seal it links to (stable while the caller holds the write lock)."""
    last = conn.execute(select(schema.events.c.seq, schema.events.c.hash)
                        .order_by(schema.events.c.seq.desc()).limit(1)).first()
    return (last.seq + 1, last.hash) if last else (1, GENESIS)


def append(conn: Connection, key: TrailKey, kind: str, *, audit_id: str | None = None, actor: str = "",
           detail: dict[str, Any] | None = None, wrote: Sequence[evidence.RowRef] = (),
           created: str | None = None) -> Event:
    """Append a sealed entry inside the caller's write transaction (which holds the write lock); `wrote` names
    the rows (table, primary key) this transaction wrote, whose images the entry keeps."""
    seq, prev = tip(conn)
    created, text = created or now(), canonical_json(detail or {})
    rows = canonical_json(evidence.capture(conn, wrote))
    actor = actor or "local"
    digest = key.seal(entry_message(seq, created, audit_id, kind, actor, text, rows, prev))
    conn.execute(schema.events.insert().values(seq=seq, created=created, audit_id=audit_id, kind=kind, actor=actor,
                                               detail=text, rows=rows, prev_hash=prev, hash=digest))
    return Event(seq, created, audit_id, kind, actor, json.loads(text), prev, digest)


def load(conn: Connection, audit_id: str | None = None) -> list[Event]:
    q = select(schema.events).order_by(schema.events.c.seq)
    if audit_id is not None:
        q = q.where(schema.events.c.audit_id == audit_id)
    return [_event(r) for r in conn.execute(q)]


def _event(r: Any) -> Event:
    try:
        detail = json.loads(r.detail)
    except (TypeError, ValueError):
        detail = {"unreadable": r.detail}
    return Event(r.seq, r.created, r.audit_id, r.kind, r.actor, detail, r.prev_hash, r.hash)


@dataclass(frozen=True)
class ChainCheck:
    """Result of verifying the trail and the rows and files it vouches for.

    `first_bad`, `first_bad_seq` and `reason` describe the first problem; `problems` lists every one.
    """

    ok: bool
    entries: int
    first_bad: str | None = None
    first_bad_seq: int | None = None
    reason: str = ""
    head: str = GENESIS
    problems: tuple[str, ...] = ()

    def __iter__(self):
        """Unpacks as `(ok, first_bad)`."""
        return iter((self.ok, self.first_bad))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "first_bad": self.first_bad,
                "first_bad_seq": self.first_bad_seq, "reason": self.reason, "head": self.head,
                "problems": list(self.problems)}


def check_chain(conn: Connection, key: TrailKey, blobs: BlobStore, *, head: str | None = None) -> ChainCheck:
    """Check every entry's number, link and seal, then the stored rows and artifact files against what the
    entries wrote.

    `head` is an entry seal recorded earlier outside the database (the `head` printed by `verify`); the trail must
    still lead to it, which catches the newest entries being deleted together with the rows they wrote.
    """
    rows = list(conn.execute(select(schema.events).order_by(schema.events.c.seq)))
    tip_hash = rows[-1].hash if rows else GENESIS
    if head is not None and head != GENESIS and not any(r.hash == head for r in rows):
        return _bad(len(rows), evidence.Problem(f"head {head[:16]}", None, (
            f"the trail no longer leads to head {head}: no entry has that seal, so entries after it were deleted "
            f"(the newest is #{rows[-1].seq if rows else 0})")), head=tip_hash)
    prev, expected_seq, wrote = GENESIS, 1, []
    for r in rows:
        where = f"event #{r.seq}"
        if r.seq != expected_seq:
            return _bad(len(rows), evidence.Problem(f"event #{expected_seq}", expected_seq, (
                f"entry #{expected_seq} is missing (next entry is #{r.seq}): entries were deleted")), head=tip_hash)
        if r.prev_hash != prev:
            return _bad(len(rows), evidence.Problem(where, r.seq, f"{where} does not link to the entry before it"),
                        head=tip_hash)
        seal = key.seal(entry_message(r.seq, r.created, r.audit_id, r.kind, r.actor, r.detail, r.rows, r.prev_hash))
        if not hmac.compare_digest(seal, str(r.hash)):
            return _bad(len(rows), evidence.Problem(where, r.seq, (
                f"{where} ({r.kind}) was altered or forged: its seal does not match its content under the trail "
                f"key")), head=tip_hash)
        wrote.append((r.seq, r.kind, json.loads(r.rows)))
        prev, expected_seq = r.hash, expected_seq + 1
    problems = evidence.differences(conn, evidence.replay(wrote), blobs)
    if problems:
        return _bad(len(rows), *problems, head=tip_hash)
    return ChainCheck(ok=True, entries=len(rows), head=tip_hash)


def _bad(n: int, first: evidence.Problem, *more: evidence.Problem, head: str) -> ChainCheck:
    return ChainCheck(ok=False, entries=n, first_bad=first.where, first_bad_seq=first.seq, reason=first.reason,
                      head=head, problems=tuple(p.reason for p in (first, *more)))
