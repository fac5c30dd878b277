"""The rows the trail vouches for. Each trail entry holds an image of every row it wrote (audits, inputs,
results, artifacts and their links, sign-offs); replaying the entries in order gives the rows the store must
hold, and `differences` names every row inserted, changed or deleted outside AuditKit, and every stored file
whose bytes no longer match.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Connection, Select, Table, Text, and_, cast, select

from auditkit.hashing import sha256_bytes
from auditkit.store import schema
from auditkit.store.blobs import BlobStore

Image = dict[str, Any]
RowRef = tuple[str, Mapping[str, Any]]  # (table name, primary-key values)
State = dict[str, dict[tuple, tuple[Image, int, str]]]  # per table: key -> (image, seq and kind of its entry)


@dataclass(frozen=True)
class EvidenceTable:
    table: Table
    key: tuple[str, ...]
    noun: Callable[[Image], str]


TABLES: dict[str, EvidenceTable] = {
    "audits": EvidenceTable(schema.audits, ("id",), lambda r: f"audit {r['id']}"),
    "inputs": EvidenceTable(schema.inputs, ("audit_id",), lambda r: f"inputs of audit {r['audit_id']}"),
    "results": EvidenceTable(schema.results, ("audit_id",), lambda r: f"result of audit {r['audit_id']}"),
    "artifacts": EvidenceTable(schema.artifacts, ("sha256",), lambda r: f"artifact {r['sha256'][:16]}"),
    "audit_artifacts": EvidenceTable(schema.audit_artifacts, ("audit_id", "sha256", "kind"),
                                     lambda r: f"{r['kind']} artifact {r['sha256'][:16]} of audit {r['audit_id']}"),
    "signoffs": EvidenceTable(schema.signoffs, ("id",), lambda r: f"sign-off {r['id']} of audit {r['audit_id']}"),
}


@dataclass(frozen=True)
class Problem:
    """One difference between the store and its trail: where (a row or file) and what happened."""

    where: str
    seq: int | None
    reason: str


def rows_of(name: str) -> Select:
    """All rows of an evidence table, JSON columns as their stored text (so an unreadable value is still read)."""
    table = TABLES[name].table
    return select(*(cast(c, Text).label(c.name) if isinstance(c.type, JSON) else c for c in table.c))


def image(name: str, row: Any) -> Image:
    """A row (from `rows_of`) as plain JSON values; a result's audit.json is represented by its SHA-256."""
    values = dict(row._mapping)
    for column in TABLES[name].table.c:
        if isinstance(column.type, JSON) and values[column.name] is not None:
            try:
                values[column.name] = json.loads(values[column.name])
            except (TypeError, ValueError):
                values[column.name] = f"unreadable JSON: {values[column.name]}"
    if name == "results":
        values["audit_json"] = "sha256:" + sha256_bytes(str(values["audit_json"]).encode("utf-8"))
    return json.loads(json.dumps(values, sort_keys=True, default=str))


def capture(conn: Connection, refs: Sequence[RowRef]) -> dict[str, list[Image]]:
    """Images of the rows `refs` names, as written in the caller's transaction."""
    out: dict[str, list[Image]] = {}
    for name, key in refs:
        table = TABLES[name].table
        row = conn.execute(rows_of(name).where(and_(*(table.c[k] == v for k, v in key.items())))).one()
        out.setdefault(name, []).append(image(name, row))
    return out


def replay(entries: Iterable[tuple[int, str, dict[str, list[Image]]]]) -> State:
    """The rows the store must hold after entries `(seq, kind, rows)`."""
    state: State = {name: {} for name in TABLES}
    for seq, kind, rows in entries:
        for name, images in rows.items():
            for img in images:
                state[name][_key(name, img)] = (img, seq, kind)
    return state


def differences(conn: Connection, expected: State, blobs: BlobStore) -> list[Problem]:
    """Every row inserted, changed or deleted outside AuditKit, and every artifact file missing or altered;
    ordered by the trail entry that wrote the row (rows no entry wrote last)."""
    problems: list[Problem] = []
    for name, spec in TABLES.items():
        actual = {_key(name, img): img for img in (image(name, r) for r in conn.execute(rows_of(name)))}
        want = expected.get(name, {})
        for key, (img, seq, kind) in want.items():
            got = actual.get(key)
            noun = spec.noun(img)
            if got is None:
                problems.append(Problem(noun, seq, f"the {noun} (table {name}), written by event #{seq} ({kind}), "
                                                   f"was deleted"))
            elif got != img:
                column = next(c for c in sorted(img.keys() | got.keys()) if img.get(c) != got.get(c))
                problems.append(Problem(noun, seq, (
                    f"the {noun} was changed: table {name}, column {column} reads {_show(got.get(column))} but "
                    f"event #{seq} ({kind}) wrote {_show(img.get(column))}")))
        for key in actual.keys() - want.keys():
            noun = spec.noun(actual[key])
            problems.append(Problem(noun, None, f"the {noun} (table {name}) was inserted directly: no trail entry "
                                                f"wrote it"))
    for img, seq, kind in expected.get("artifacts", {}).values():
        wrong = blobs.check(img["sha256"], img["size"])
        if wrong:
            owners = ", ".join(f"{link['kind']} of audit {link['audit_id']}" for link, _s, _k in
                               expected.get("audit_artifacts", {}).values() if link["sha256"] == img["sha256"])
            noun = f"stored file of artifact {img['sha256'][:16]}"
            problems.append(Problem(noun, seq, f"the {noun}" + (f" ({owners})" if owners else "")
                                    + f", recorded by event #{seq} ({kind}), {wrong}"))
    return sorted(problems, key=lambda p: (p.seq is None, p.seq or 0))


def _key(name: str, img: Image) -> tuple:
    return tuple(img.get(k) for k in TABLES[name].key)


def _show(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
