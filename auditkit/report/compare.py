"""Compare two audits: which numbers moved and which policy rules changed state."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from auditkit.policy import Policy, evaluate

#: Paths whose numbers describe the run, not the model (left out of "numbers moved").
IGNORED_PREFIXES = ("inputs.versions", "inputs.schema_version", "inputs.created")


@dataclass(frozen=True)
class NumberChange:
    path: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "a": self.a, "b": self.b, "delta": self.delta}


@dataclass(frozen=True)
class RuleChange:
    name: str
    status_a: str
    status_b: str
    value_a: float | None
    value_b: float | None

    @property
    def changed(self) -> bool:
        return self.status_a != self.status_b

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status_a": self.status_a, "status_b": self.status_b, "value_a": self.value_a,
                "value_b": self.value_b, "changed": self.changed}


@dataclass(frozen=True)
class Comparison:
    rules: tuple[RuleChange, ...]
    numbers: tuple[NumberChange, ...]

    @property
    def rules_changed(self) -> tuple[RuleChange, ...]:
        return tuple(r for r in self.rules if r.changed)

    def to_dict(self) -> dict[str, Any]:
        return {"rules": [r.to_dict() for r in self.rules], "numbers": [n.to_dict() for n in self.numbers]}


def numeric_leaves(audit: dict[str, Any]) -> dict[str, float]:
    """Every finite number in the audit by dotted path (booleans and list items excluded)."""
    out: dict[str, float] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, f"{path}.{k}" if path else str(k))
        elif isinstance(node, (int, float)) and not isinstance(node, bool) and math.isfinite(node):
            if not path.startswith(IGNORED_PREFIXES):
                out[path] = float(node)

    walk(audit, "")
    return out


def compare_audits(a: dict[str, Any], b: dict[str, Any], policy: Policy, *, rel_tol: float = 1e-9) -> Comparison:
    """Rule states of both audits under `policy` (every line, A's order then B's new lines), and every number
    that differs, added or disappeared, largest absolute change first."""
    card_a, card_b = evaluate(a, policy).by_name(), evaluate(b, policy).by_name()
    rules = []
    for name in list(card_a) + [n for n in card_b if n not in card_a]:
        ra, rb = card_a.get(name), card_b.get(name)
        rules.append(RuleChange(name, ra.status if ra else "absent", rb.status if rb else "absent",
                                ra.value if ra else None, rb.value if rb else None))
    na, nb = numeric_leaves(a), numeric_leaves(b)
    moved = []
    for path in list(na) + [p for p in nb if p not in na]:
        va, vb = na.get(path), nb.get(path)
        if va is None or vb is None or not math.isclose(va, vb, rel_tol=rel_tol, abs_tol=1e-12):
            moved.append(NumberChange(path, va, vb))
    moved.sort(key=lambda c: -(abs(c.delta) if c.delta is not None else math.inf))
    return Comparison(tuple(rules), tuple(moved))
