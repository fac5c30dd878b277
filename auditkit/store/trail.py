"""The audit trail: an append-only event log where each entry holds the hash of the one before it.

Entry hash = SHA-256 of the JSON list [seq, created, audit_id, kind, actor, detail, prev_hash] (detail is
the canonical JSON text as stored). Changing, inserting or deleting an entry in the middle breaks the
chain at that entry; `check_chain` names the first one.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, select

from auditkit.hashing import sha256_bytes
from auditkit.store import schema

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


def entry_hash(seq: int, created: str, audit_id: str | None, kind: str, actor: str, detail: str, prev_hash: str) -> str:
    return sha256_bytes(json.dumps([seq, created, audit_id, kind, actor, detail, prev_hash]).encode("utf-8"))


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


def append(conn: Connection, kind: str, *, audit_id: str | None = None, actor: str = "",
           detail: dict[str, Any] | None = None) -> Event:
    """Append an entry inside the caller's write transaction (which holds the write lock)."""
    last = conn.execute(select(schema.events.c.seq, schema.events.c.hash)
                        .order_by(schema.events.c.seq.desc()).limit(1)).first()
    seq, prev = (last.seq + 1, last.hash) if last else (1, GENESIS)
    created, text = now(), canonical_json(detail or {})
    actor = actor or "local"
    digest = entry_hash(seq, created, audit_id, kind, actor, text, prev)
    conn.execute(schema.events.insert().values(seq=seq, created=created, audit_id=audit_id, kind=kind,
                                               actor=actor, detail=text, prev_hash=prev, hash=digest))
    return Event(seq, created, audit_id, kind, actor, json.loads(text), prev, digest)


def load(conn: Connection, audit_id: str | None = None) -> list[Event]:
    q = select(schema.events).order_by(schema.events.c.seq)
    if audit_id is not None:
        q = q.where(schema.events.c.audit_id == audit_id)
    return [_event(r) for r in conn.execute(q)]


def _event(r: Any) -> Event:
    try:
        detail = json.loads(r.detail)
    except ValueError:
        detail = {"unreadable": r.detail}
    return Event(r.seq, r.created, r.audit_id, r.kind, r.actor, detail, r.prev_hash, r.hash)


@dataclass(frozen=True)
class ChainCheck:
    """Result of verifying the trail and the rows it vouches for."""

    ok: bool
    entries: int
    first_bad: str | None = None
    first_bad_seq: int | None = None
    reason: str = ""
    head: str = GENESIS

    def __iter__(self):
        """Unpacks as `(ok, first_bad)`."""
        return iter((self.ok, self.first_bad))

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "entries": self.entries, "first_bad": self.first_bad,
                "first_bad_seq": self.first_bad_seq, "reason": self.reason, "head": self.head}


def check_chain(conn: Connection, *, anchor: str | None = None) -> ChainCheck:
    """Recompute every entry's hash and link, then check the audit, input, result and sign-off rows
    against the entries that recorded them.

    `anchor` is an entry hash recorded earlier outside the database (e.g. a `head` printed by `verify`); the
    chain must still contain it, which catches the newest entries being deleted or the chain being rebuilt.
    """
    rows = list(conn.execute(select(schema.events).order_by(schema.events.c.seq)))
    head = rows[-1].hash if rows else GENESIS
    if anchor is not None and anchor != GENESIS and not any(r.hash == anchor for r in rows):
        return ChainCheck(ok=False, entries=len(rows), first_bad=f"anchor {anchor[:16]}", reason=(
            f"no entry has the anchored hash {anchor}: entries after it were deleted or the trail was rebuilt"),
            head=head)
    prev, expected_seq = GENESIS, 1
    for r in rows:
        where = f"event #{r.seq}"
        if r.seq != expected_seq:
            return _bad(len(rows), f"event #{expected_seq}", expected_seq,
                        f"entry #{expected_seq} is missing (next entry is #{r.seq}): entries were deleted", head)
        if r.prev_hash != prev:
            return _bad(len(rows), where, r.seq, f"{where} does not link to the entry before it", head)
        if entry_hash(r.seq, r.created, r.audit_id, r.kind, r.actor, r.detail, r.prev_hash) != r.hash:
            return _bad(len(rows), where, r.seq,
                        f"{where} ({r.kind}) was altered: its content no longer matches its hash", head)
        prev, expected_seq = r.hash, expected_seq + 1
    problem = _check_rows(conn, [_event(r) for r in rows])
    if problem:
        return _bad(len(rows), problem[0], problem[1], problem[2], head)
    return ChainCheck(ok=True, entries=len(rows), head=head)


def _bad(n: int, where: str, seq: int | None, reason: str, head: str) -> ChainCheck:
    return ChainCheck(ok=False, entries=n, first_bad=where, first_bad_seq=seq, reason=reason, head=head)


_STATUS_OF = {"audit.created": "pending", "audit.completed": "done", "audit.failed": "failed"}


def _check_rows(conn: Connection, events: Iterable[Event]) -> tuple[str, int | None, str] | None:
    status: dict[str, Event] = {}
    for e in events:
        if e.kind in _STATUS_OF and e.audit_id:
            status[e.audit_id] = e
    by_seq = {e.seq: e for e in events}
    for a in conn.execute(select(schema.audits).order_by(schema.audits.c.created)):
        last = status.get(a.id)
        if last is None:
            return f"audit {a.id}", None, f"audit {a.id} has no entry in the trail: it was inserted directly"
        if _STATUS_OF[last.kind] != a.status or last.detail.get("name", a.name) != a.name:
            return (f"audit {a.id}", last.seq,
                    f"audit {a.id} reads status '{a.status}' / name {a.name!r}, but event #{last.seq} recorded "
                    f"'{_STATUS_OF[last.kind]}' / {last.detail.get('name')!r}")
    for i in conn.execute(select(schema.inputs)):
        last = status.get(i.audit_id)
        if last and (last.detail.get("data_sha256"), last.detail.get("model_sha256")) != (i.data_sha256, i.model_sha256):
            return (f"inputs of audit {i.audit_id}", last.seq,
                    f"the input hashes of audit {i.audit_id} differ from those recorded in event #{last.seq}")
    for r in conn.execute(select(schema.results)):
        last = status.get(r.audit_id)
        actual = sha256_bytes(r.audit_json.encode("utf-8"))
        if last is None or last.kind != "audit.completed" or last.detail.get("result_sha256") != actual:
            seq = last.seq if last else None
            return (f"result of audit {r.audit_id}", seq,
                    f"the stored audit.json of audit {r.audit_id} does not match the hash recorded"
                    + (f" in event #{seq}" if seq else "") + ": it was altered")
    for s in conn.execute(select(schema.signoffs)):
        e = by_seq.get(s.event_seq)
        recorded = e and e.kind == "signoff" and e.audit_id == s.audit_id and (
            e.detail.get("reviewer"), e.detail.get("decision"), e.detail.get("comment")) == (
            s.reviewer, s.decision, s.comment)
        if not recorded:
            return (f"sign-off {s.id} of audit {s.audit_id}", s.event_seq,
                    f"sign-off {s.id} ({s.reviewer}: {s.decision}) does not match event #{s.event_seq}: it was altered")
    return None

