"""Policy files: YAML rules that bound numbers in audit.json.

A policy is plain YAML (read by `auditkit.safe_yaml`: no Python tags, at most 100 kB, limited nesting and
aliases, no rule named twice)::

    name: my-policy            # optional
    version: 1                 # optional
    rules:
      demographic_parity_difference: {max: 0.1}
      accuracy: {min: 0.7}
      worst_group_recall:
        path: fairness.*.by_group.*.recall
        min: 0.5
        required: true

Each rule has `min` and/or `max` (inclusive bounds), and optionally `path` (one dotted path, or a list of
alternatives tried in order: the first that finds anything is used; `*` matches one key, `**` any number of
keys), `required` (a rule that measures nothing fails instead of reading "not measured") and `description`.
Without `path`, a rule's name picks its paths from `KNOWN_PATHS`, or else it matches that key at any depth
outside per-group detail (`**.<name>`).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit.errors import AuditkitError
from auditkit.fairness.metrics import DISPARITIES
from auditkit.safe_yaml import load_yaml, read_yaml_file

DEFAULT_POLICY_PATH = Path(__file__).with_name("default.yaml")
MAX_POLICY_BYTES = 100_000  # a policy is a list of rules; the shipped one is about 1 kB

_PREDICTIONS = ("accuracy", "balanced_accuracy", "positive_rate", "precision", "recall", "f1", "roc_auc")
_ENERGY = ("kwh", "co2e_kg", "kwh_per_1k_predictions")

#: Where a rule named without `path` looks in audit.json (alternatives, first match wins).
KNOWN_PATHS: dict[str, tuple[str, ...]] = {
    **{name: (f"fairness.*.{name}",) for name in DISPARITIES},
    **{name: (f"predictions.{name}",) for name in _PREDICTIONS},
    **{name: (f"energy.{name}",) for name in _ENERGY},
    "epsilon": ("privacy.epsilon", "privacy.dp.epsilon"),
    "delta": ("privacy.delta", "privacy.dp.delta"),
    "membership_inference_auc": ("privacy.membership_inference_auc", "privacy.membership_inference.auc"),
    "additivity_error": ("explanations.additivity_error",),
}

#: Keys that `**` does not descend into: per-group detail is only reached by an explicit path.
OPAQUE_KEYS = frozenset({"by_group"})

_RULE_KEYS = {"min", "max", "path", "required", "description"}
_TOP_KEYS = {"name", "version", "description", "rules"}


class PolicyError(AuditkitError, ValueError):
    """A policy file is not valid; the message names the rule and the fix."""


@dataclass(frozen=True)
class Rule:
    """One bound: every number found at `paths` must lie within [`min`, `max`]."""

    name: str
    paths: tuple[str, ...]
    min: float | None = None
    max: float | None = None
    required: bool = False
    description: str = ""

    def check(self, value: float) -> bool:
        """True when `value` lies within the rule's bounds (inclusive)."""
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def bounds_text(self) -> str:
        """The bounds in words, e.g. "≤ 0.1" or "between 0.8 and 1.25"."""
        if self.min is not None and self.max is not None:
            return f"between {self.min:g} and {self.max:g}"
        return f"≤ {self.max:g}" if self.max is not None else f"≥ {self.min:g}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "paths": list(self.paths), "min": self.min, "max": self.max,
                "required": self.required, "description": self.description}


@dataclass(frozen=True)
class Policy:
    """A named set of rules."""

    name: str
    rules: tuple[Rule, ...]
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "source": self.source, "rules": [r.to_dict() for r in self.rules]}


def load_policy(path: str | Path | None = None) -> Policy:
    """Read a policy file; `None` gives the shipped default (`auditkit/policy/default.yaml`)."""
    p = DEFAULT_POLICY_PATH if path is None else Path(path)
    return _policy(read_yaml_file(p, error=PolicyError, source=f"policy file {p}", max_bytes=MAX_POLICY_BYTES),
                   str(p))


def parse_policy(text: str | bytes, *, source: str = "<policy>") -> Policy:
    """Parse policy YAML text or bytes (for uploads); see the module docstring for the format."""
    return _policy(load_yaml(text, source=source, error=PolicyError, max_bytes=MAX_POLICY_BYTES), source)


def _policy(data: Any, source: str) -> Policy:
    if not isinstance(data, dict) or "rules" not in data:
        raise PolicyError(f"{source}: a policy is a YAML mapping with a 'rules:' section, "
                          f"e.g. 'rules: {{accuracy: {{min: 0.7}}}}'")
    unknown = set(map(str, data)) - _TOP_KEYS
    if unknown:
        raise PolicyError(f"{source}: unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
    rules_data = data["rules"]
    if not isinstance(rules_data, dict) or not rules_data:
        raise PolicyError(f"{source}: 'rules' must map rule names to bounds, e.g. 'accuracy: {{min: 0.7}}'")
    rules = tuple(_parse_rule(str(name), spec, source) for name, spec in rules_data.items())
    name = data.get("name") or Path(source).stem
    return Policy(name=str(name), rules=rules, source=source)


def _parse_rule(name: str, spec: Any, source: str) -> Rule:
    where = f"{source}: rule '{name}'"
    if not isinstance(spec, dict):
        raise PolicyError(f"{where} must be a mapping such as {{max: 0.1}} or {{min: 0.8}}, got {spec!r}")
    unknown = set(map(str, spec)) - _RULE_KEYS
    if unknown:
        raise PolicyError(f"{where}: unknown comparator or key {sorted(unknown)}; use 'min' and/or 'max' "
                          f"(optional: 'path', 'required', 'description')")
    bounds = {k: _bound(spec[k], f"{where}: '{k}'") for k in ("min", "max") if k in spec}
    if not bounds:
        raise PolicyError(f"{where} has no bound: add 'min: <number>' and/or 'max: <number>'")
    if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
        raise PolicyError(f"{where}: min {bounds['min']} is above max {bounds['max']}; swap them")
    paths = _paths(spec.get("path"), name, where)
    required = spec.get("required", False)
    if not isinstance(required, bool):
        raise PolicyError(f"{where}: 'required' must be true or false, got {required!r}")
    return Rule(name=name, paths=paths, min=bounds.get("min"), max=bounds.get("max"), required=required,
                description=str(spec.get("description") or ""))


_NUMBER = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")


def _bound(value: Any, where: str) -> float:
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads 1e-5 (no dot) as text
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PolicyError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _paths(spec: Any, name: str, where: str) -> tuple[str, ...]:
    if spec is None:
        return KNOWN_PATHS.get(name, (f"**.{name}",))
    items = [spec] if isinstance(spec, str) else spec
    if not isinstance(items, list) or not items or not all(isinstance(p, str) and p.strip() for p in items):
        raise PolicyError(f"{where}: 'path' must be a dotted path like 'fairness.*.demographic_parity_difference' "
                          f"or a list of them")
    for p in items:
        if any(part == "" for part in p.split(".")):
            raise PolicyError(f"{where}: path {p!r} has an empty segment; write keys separated by single dots")
    return tuple(items)
