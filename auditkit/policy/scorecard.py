"""Judge an audit.json against a policy: one scorecard line per measured occurrence of each rule.

A number in a section whose `method` is an estimate ("estimated", "partly measured") is judged on its
uncertainty interval, the sibling key `<name>_interval` ([low, high]): it passes when the whole interval lies
within the bounds, fails when the whole interval lies outside them, and is "not measured" when the interval
straddles a bound or the estimate gives no interval (an estimate that cannot decide is no evidence either way).
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from auditkit.policy.rules import OPAQUE_KEYS, Policy, Rule

Status = Literal["pass", "fail", "not_measured"]

#: Section methods whose numbers are estimates, judged on their `<name>_interval`.
ESTIMATE_METHODS = frozenset({"estimated", "partly measured"})


@dataclass(frozen=True)
class RuleResult:
    """One scorecard line, e.g. `demographic_parity_difference[sex]`; `interval` when the value is an estimate."""

    rule: str
    name: str
    path: str
    status: Status
    value: float | None
    min: float | None
    max: float | None
    message: str
    interval: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "name": self.name, "path": self.path, "status": self.status,
                "value": self.value, "min": self.min, "max": self.max, "message": self.message,
                "interval": list(self.interval) if self.interval else None}


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
    for path, caps, value, _ in _walk(audit, pattern.split("."), (), (), None):
        yield path, caps, value


def _walk(node: Any, parts: list[str], path: tuple[str, ...], caps: tuple[str, ...], parent: Any):
    """(path, captures, value, the mapping that holds the value) for every match."""
    if not parts:
        yield ".".join(path), caps, node, parent
        return
    if not isinstance(node, dict):
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        yield from _walk(node, rest, path, caps, parent)
        for key, child in node.items():
            if str(key) not in OPAQUE_KEYS:
                yield from _walk(child, parts, path + (str(key),), caps + (str(key),), node)
    elif head == "*":
        for key, child in node.items():
            yield from _walk(child, rest, path + (str(key),), caps + (str(key),), node)
    elif head in node:
        yield from _walk(node[head], rest, path + (head,), caps, node)


def _estimate_interval(parent: Any, path: str) -> tuple[bool, tuple[float, float] | None]:
    """Whether the value at `path` is an estimate, and its (low, high) interval when its section gives one."""
    if not isinstance(parent, dict) or parent.get("method") not in ESTIMATE_METHODS:
        return False, None
    pair = parent.get(f"{path.rsplit('.', 1)[-1]}_interval")
    if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in pair):
        return True, (float(min(pair)), float(max(pair)))
    return True, None


def _evaluate_rule(audit: dict[str, Any], rule: Rule) -> list[RuleResult]:
    matches: dict[str, tuple[tuple[str, ...], Any, Any]] = {}
    for pattern in rule.paths:  # alternatives in order: the first pattern that finds anything is used
        for path, caps, value, parent in _walk(audit, pattern.split("."), (), (), None):
            matches.setdefault(path, (caps, value, parent))
        if matches:
            break
    if not matches:
        status: Status = "fail" if rule.required else "not_measured"
        msg = (f"{rule.name}: not measured (nothing at {' or '.join(rule.paths)})"
               + ("; the policy requires it: run the panel that measures it" if rule.required else ""))
        return [RuleResult(rule.name, rule.name, "", status, None, rule.min, rule.max, msg)]
    single = len(matches) == 1
    out = []
    for path, (caps, value, parent) in matches.items():
        label = "/".join(caps)
        name = rule.name if single and not label else f"{rule.name}[{label or path}]"
        out.append(_judge(rule, name, path, value, *_estimate_interval(parent, path)))
    return out


def _judge(rule: Rule, name: str, path: str, value: Any, estimate: bool = False,
           interval: tuple[float, float] | None = None) -> RuleResult:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        why = "null" if value is None else f"not a number ({type(value).__name__})"
        return RuleResult(rule.name, name, path, "not_measured", None, rule.min, rule.max,
                          f"{name}: not measured ({path} is {why})")
    v = float(value)
    if math.isnan(v):
        return RuleResult(rule.name, name, path, "not_measured", None, rule.min, rule.max,
                          f"{name}: not measured ({path} is undefined for this data)")
    if estimate:
        return _judge_estimate(rule, name, path, v, interval)
    if rule.check(v):
        return RuleResult(rule.name, name, path, "pass", v, rule.min, rule.max,
                          f"{name} = {v:.4g}, within the bound ({rule.bounds_text()})")
    side = "above the maximum" if rule.max is not None and v > rule.max else "below the minimum"
    bound = rule.max if side.startswith("above") else rule.min
    return RuleResult(rule.name, name, path, "fail", v, rule.min, rule.max,
                      f"{name} = {v:.4g}, {side} {bound:g}")


def _judge_estimate(rule: Rule, name: str, path: str, v: float, interval: tuple[float, float] | None) -> RuleResult:
    """An estimate decides only when its whole interval lies on one side of the bounds."""
    undecided: Status = "fail" if rule.required else "not_measured"
    then = ("; the policy requires it: measure it (for energy: on a machine with readable RAPL or NVML counters)"
            if rule.required else "; measure it to decide (for energy: on a machine with readable RAPL or NVML counters)")
    if interval is None:
        return RuleResult(rule.name, name, path, undecided, v, rule.min, rule.max,
                          f"{name} = {v:.4g} is an estimate without an uncertainty interval: not measured{then}")
    low, high = interval
    est = f"{name} = {v:.4g}, estimated between {low:.4g} and {high:.4g}"
    if rule.check(low) and rule.check(high):
        return RuleResult(rule.name, name, path, "pass", v, rule.min, rule.max,
                          f"{est}: the whole interval is within the bound ({rule.bounds_text()})", interval)
    if rule.max is not None and low > rule.max:
        return RuleResult(rule.name, name, path, "fail", v, rule.min, rule.max,
                          f"{est}: the whole interval is above the maximum {rule.max:g}", interval)
    if rule.min is not None and high < rule.min:
        return RuleResult(rule.name, name, path, "fail", v, rule.min, rule.max,
                          f"{est}: the whole interval is below the minimum {rule.min:g}", interval)
    return RuleResult(rule.name, name, path, undecided, v, rule.min, rule.max,
                      f"{est}: the interval straddles the bound ({rule.bounds_text()}), so the estimate cannot "
                      f"decide: not measured{then}", interval)
