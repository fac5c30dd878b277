"""Judge an audit.json against a policy: one scorecard line per measured occurrence of each rule."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from auditkit.policy.rules import OPAQUE_KEYS, Policy, Rule

Status = Literal["pass", "fail", "not_measured"]


@dataclass(frozen=True)
class RuleResult:
    """One scorecard line, e.g. `demographic_parity_difference[sex]`."""

    rule: str
    name: str
    path: str
    status: Status
    value: float | None
    min: float | None
    max: float | None
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "name": self.name, "path": self.path, "status": self.status,
                "value": self.value, "min": self.min, "max": self.max, "message": self.message}


@dataclass(frozen=True)
class Scorecard:
    """All lines of one evaluation. `exit_code` is 1 when any line fails, else 0."""

    policy: str
    results: tuple[RuleResult, ...]

    def count(self, status: Status) -> int:
        return sum(r.status == status for r in self.results)

    @property
    def passed(self) -> bool:
        """True when no line fails (lines not measured do not fail unless their rule is `required`)."""
        return self.count("fail") == 0

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def by_name(self) -> dict[str, RuleResult]:
        return {r.name: r for r in self.results}

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "passed": self.passed,
            "counts": {s: self.count(s) for s in ("pass", "fail", "not_measured")},
            "results": [r.to_dict() for r in self.results],
        }

    def to_junit_xml(self) -> str:
        """The scorecard as JUnit XML: one testcase per line; failures fail, unmeasured lines are skipped."""
        suite = ET.Element("testsuite", {
            "name": f"auditkit policy {self.policy}",
            "tests": str(len(self.results)),
            "failures": str(self.count("fail")),
            "errors": "0",
            "skipped": str(self.count("not_measured")),
        })
        for r in self.results:
            case = ET.SubElement(suite, "testcase", {"classname": f"auditkit.policy.{self.policy}", "name": r.name})
            if r.status == "fail":
                ET.SubElement(case, "failure", {"message": r.message, "type": "PolicyViolation"}).text = (
                    f"{r.path} = {r.value!r}, bounds min={r.min!r} max={r.max!r}")
            elif r.status == "not_measured":
                ET.SubElement(case, "skipped", {"message": r.message})
            ET.SubElement(case, "system-out").text = r.message
        suites = ET.Element("testsuites", {"name": "auditkit"})
        suites.append(suite)
        ET.indent(suites)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def evaluate(audit: dict[str, Any], policy: Policy) -> Scorecard:
    """Apply every rule of `policy` to `audit` (an audit.json dict; any section may be missing)."""
    results: list[RuleResult] = []
    for rule in policy.rules:
        results.extend(_evaluate_rule(audit, rule))
    return Scorecard(policy=policy.name, results=tuple(results))


def find(audit: dict[str, Any], pattern: str) -> Iterator[tuple[str, tuple[str, ...], Any]]:
    """Every (concrete dotted path, wildcard captures, value) matching `pattern` in `audit`."""
    yield from _walk(audit, pattern.split("."), (), ())


def _walk(node: Any, parts: list[str], path: tuple[str, ...], caps: tuple[str, ...]):
    if not parts:
        yield ".".join(path), caps, node
        return
    if not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        yield from _walk(node, rest, path, caps)
        for key, child in node.items():
            if str(key) not in OPAQUE_KEYS:
                yield from _walk(child, parts, path + (str(key),), caps + (str(key),))
    elif head == "*":
        for key, child in node.items():
            yield from _walk(child, rest, path + (str(key),), caps + (str(key),))
    elif head in node:
        yield from _walk(node[head], rest, path + (head,), caps)


def _evaluate_rule(audit: dict[str, Any], rule: Rule) -> list[RuleResult]:
    matches: dict[str, tuple[tuple[str, ...], Any]] = {}
    for pattern in rule.paths:  # alternatives in order: the first pattern that finds anything is used
        for path, caps, value in find(audit, pattern):
            matches.setdefault(path, (caps, value))
        if matches:
            break
    if not matches:
        status: Status = "fail" if rule.required else "not_measured"
        msg = (f"{rule.name}: not measured (nothing at {' or '.join(rule.paths)})"
               + ("; the policy requires it: run the panel that measures it" if rule.required else ""))
        return [RuleResult(rule.name, rule.name, "", status, None, rule.min, rule.max, msg)]
    single = len(matches) == 1
    out = []
    for path, (caps, value) in matches.items():
        label = "/".join(caps)
        name = rule.name if single and not label else f"{rule.name}[{label or path}]"
        out.append(_judge(rule, name, path, value))
    return out


def _judge(rule: Rule, name: str, path: str, value: Any) -> RuleResult:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        why = "null" if value is None else f"not a number ({type(value).__name__})"
        return RuleResult(rule.name, name, path, "not_measured", None, rule.min, rule.max,
                          f"{name}: not measured ({path} is {why})")
    v = float(value)
    if math.isnan(v):
        return RuleResult(rule.name, name, path, "not_measured", None, rule.min, rule.max,
                          f"{name}: not measured ({path} is undefined for this data)")
    if rule.check(v):
        return RuleResult(rule.name, name, path, "pass", v, rule.min, rule.max,
                          f"{name} = {v:.4g}, within the bound ({rule.bounds_text()})")
    side = "above the maximum" if rule.max is not None and v > rule.max else "below the minimum"
    bound = rule.max if side.startswith("above") else rule.min
    return RuleResult(rule.name, name, path, "fail", v, rule.min, rule.max,
                      f"{name} = {v:.4g}, {side} {bound:g}")
