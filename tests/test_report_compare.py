"""Comparing two audits: rule state flips and moved numbers."""
from __future__ import annotations

from auditkit.policy import parse_policy
from auditkit.report import compare_audits

POLICY = parse_policy("rules: {accuracy: {min: 0.7}, demographic_parity_difference: {max: 0.1}, epsilon: {max: 8}}")


def test_rule_flips_and_numbers_moved():
    a = {"inputs": {"versions": {"torch": "2.13.0"}, "rows": 100, "created": 1},
         "predictions": {"accuracy": 0.68, "positive_rate": 0.4},
         "fairness": {"sex": {"demographic_parity_difference": 0.05, "by_group": {"F": {"count": 50}}}}}
    b = {"inputs": {"versions": {"torch": "2.14.0"}, "rows": 100, "created": 2},
         "predictions": {"accuracy": 0.74, "positive_rate": 0.4},
         "fairness": {"sex": {"demographic_parity_difference": 0.15, "by_group": {"F": {"count": 50}, "X": {"count": 3}}}},
         "privacy": {"epsilon": 4.0}}
    cmp = compare_audits(a, b, POLICY)
    rules = {r.name: (r.status_a, r.status_b, r.changed) for r in cmp.rules}
    assert rules == {"accuracy": ("fail", "pass", True),
                     "demographic_parity_difference[sex]": ("pass", "fail", True),
                     "epsilon": ("not_measured", "pass", True)}
    moved = {n.path: (n.a, n.b) for n in cmp.numbers}
    assert moved == {"predictions.accuracy": (0.68, 0.74),
                     "fairness.sex.demographic_parity_difference": (0.05, 0.15),
                     "fairness.sex.by_group.X.count": (None, 3.0),
                     "privacy.epsilon": (None, 4.0)}
    assert [n.path for n in cmp.numbers][:2] == ["fairness.sex.by_group.X.count", "privacy.epsilon"]
    deltas = {n.path: n.delta for n in cmp.numbers if n.delta is not None}
    assert abs(deltas["fairness.sex.demographic_parity_difference"] - 0.1) < 1e-12
    assert abs(deltas["predictions.accuracy"] - 0.06) < 1e-12


def test_identical_audits_have_no_changes():
    a = {"predictions": {"accuracy": 0.9}, "fairness": {"s": {"demographic_parity_difference": float("nan")}}}
    cmp = compare_audits(a, dict(a), POLICY)
    assert cmp.numbers == () and cmp.rules_changed == ()
