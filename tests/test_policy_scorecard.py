"""Policy loading and scorecards, on hand-made audit dicts."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from auditkit.policy import PolicyError, evaluate, load_policy, parse_policy


def _audit() -> dict:
    return {
        "inputs": {"data_sha256": "a" * 64, "rows": 100},
        "predictions": {"accuracy": 0.82, "positive_rate": 0.4},
        "fairness": {
            "sex": {
                "by_group": {"F": {"accuracy": 0.5, "count": 40}, "M": {"accuracy": 0.9, "count": 60}},
                "demographic_parity_difference": 0.25,
                "demographic_parity_ratio": 0.6,
                "equalized_odds_difference": 0.05,
            },
            "race": {
                "by_group": {"a": {"accuracy": 0.8}, "b": {"accuracy": 0.84}},
                "demographic_parity_difference": 0.02,
                "demographic_parity_ratio": 0.95,
                "equalized_odds_difference": float("nan"),
            },
            "sex&race": {"by_group": {}, "demographic_parity_difference": 0.3, "demographic_parity_ratio": None},
        },
        "privacy": {"epsilon": 3.0, "membership_inference_auc": 0.71},
        "energy": {"kwh": 0.002, "kwh_per_1k_predictions": 0.02},
    }


def test_default_policy_on_full_audit():
    card = evaluate(_audit(), load_policy(None))
    got = {r.name: (r.status, r.value) for r in card.results}
    assert got["demographic_parity_difference[sex]"] == ("fail", 0.25)
    assert got["demographic_parity_difference[race]"] == ("pass", 0.02)
    assert got["demographic_parity_difference[sex&race]"] == ("fail", 0.3)
    assert got["demographic_parity_ratio[sex]"] == ("fail", 0.6)
    assert got["demographic_parity_ratio[race]"] == ("pass", 0.95)
    assert got["demographic_parity_ratio[sex&race]"] == ("not_measured", None)
    assert got["equalized_odds_difference[race]"] == ("not_measured", None)  # NaN = undefined
    assert got["equalized_odds_difference[sex]"] == ("pass", 0.05)
    assert got["accuracy"] == ("pass", 0.82)
    assert got["epsilon"] == ("pass", 3.0)
    assert got["membership_inference_auc"] == ("fail", 0.71)
    assert got["kwh_per_1k_predictions"] == ("pass", 0.02)
    assert card.count("fail") == 4
    assert card.exit_code == 1
    # top-level accuracy never picks per-group accuracies
    assert not any("by_group" in r.path for r in card.results)


def test_missing_sections_are_not_measured_and_pass_the_gate():
    audit = {"inputs": {}, "predictions": {"accuracy": 0.9}}
    card = evaluate(audit, load_policy(None))
    by = card.by_name()
    assert by["accuracy"].status == "pass"
    for name in ("demographic_parity_difference", "epsilon", "membership_inference_auc", "kwh_per_1k_predictions"):
        assert by[name].status == "not_measured"
        assert by[name].value is None
    assert card.exit_code == 0
    assert card.to_dict()["counts"] == {"pass": 1, "fail": 0, "not_measured": 6}


def test_inclusive_bounds_and_required():
    policy = parse_policy("""
rules:
  accuracy: {min: 0.82}
  kwh: {max: 0.002}
  co2e_kg: {max: 1, required: true}
""")
    card = evaluate(_audit(), policy)
    by = card.by_name()
    assert by["accuracy"].status == "pass"
    assert by["kwh"].status == "pass"
    assert by["co2e_kg"].status == "fail"
    assert "requires" in by["co2e_kg"].message


def test_path_alternatives_first_match_wins():
    policy = parse_policy("rules: {acc: {path: [predictions.balanced_accuracy, predictions.accuracy], min: 0.5}}")
    assert [r.path for r in evaluate(_audit(), policy).results] == ["predictions.accuracy"]
    both = {"predictions": {"accuracy": 0.82, "balanced_accuracy": 0.4}}
    assert [(r.path, r.status) for r in evaluate(both, policy).results] == [("predictions.balanced_accuracy", "fail")]


def test_explicit_wildcard_paths_reach_group_detail():
    policy = parse_policy("""
rules:
  worst_group_accuracy: {path: "fairness.*.by_group.*.accuracy", min: 0.6}
  sex_dpd: {path: fairness.sex.demographic_parity_difference, max: 0.3}
""")
    by = evaluate(_audit(), policy).by_name()
    assert by["worst_group_accuracy[sex/F]"].status == "fail"
    assert by["worst_group_accuracy[sex/F]"].value == 0.5
    assert by["worst_group_accuracy[sex/M]"].status == "pass"
    assert by["worst_group_accuracy[race/b]"].value == 0.84
    assert by["sex_dpd"].status == "pass"
    assert by["sex_dpd"].path == "fairness.sex.demographic_parity_difference"


def test_unknown_name_matches_any_depth_outside_by_group():
    audit = {"custom": {"inner": {"latency_ms": 12.0}},
             "fairness": {"sex": {"by_group": {"F": {"latency_ms": 99.0}}}}}
    results = evaluate(audit, parse_policy("rules: {latency_ms: {max: 20}}")).results
    assert [(r.name, r.status, r.path) for r in results] == [
        ("latency_ms[custom/inner]", "pass", "custom.inner.latency_ms")]


def test_privacy_section_as_written_by_the_privacy_panel():
    # top-level copies and nested records of the same numbers give one line each
    audit = {"privacy": {"dp": {"epsilon": 9.5, "delta": 1e-5}, "epsilon": 9.5, "delta": 1e-5,
                         "membership_inference": {"auc": 0.55, "delta": 0.0}, "membership_inference_auc": 0.55}}
    results = evaluate(audit, parse_policy("rules: {epsilon: {max: 8}, delta: {max: 1e-4}, "
                                           "membership_inference_auc: {max: 0.6}}")).results
    assert [(r.name, r.path, r.status) for r in results] == [
        ("epsilon", "privacy.epsilon", "fail"), ("delta", "privacy.delta", "pass"),
        ("membership_inference_auc", "privacy.membership_inference_auc", "pass")]
    skipped = {"privacy": {"membership_inference": {"skipped": "no split column"}, "membership_inference_auc": None}}
    by = evaluate(skipped, load_policy(None)).by_name()
    assert by["membership_inference_auc"].status == "not_measured"
    assert by["epsilon"].status == "not_measured"


def test_nested_privacy_record():
    audit = {"privacy": {"dp": {"epsilon": 9.5, "delta": 1e-5}, "membership_inference": {"auc": 0.55}}}
    by = evaluate(audit, load_policy(None)).by_name()
    assert by["epsilon"].status == "fail"
    assert by["epsilon"].path == "privacy.dp.epsilon"
    assert by["membership_inference_auc"].status == "pass"
    assert by["membership_inference_auc"].path == "privacy.membership_inference.auc"


def test_junit_xml_has_one_case_per_line():
    card = evaluate(_audit(), load_policy(None))
    root = ET.fromstring(card.to_junit_xml().split("\n", 1)[1])
    suite = root.find("testsuite")
    cases = suite.findall("testcase")
    assert len(cases) == len(card.results)
    assert int(suite.get("failures")) == 4
    assert int(suite.get("skipped")) == card.count("not_measured")
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert failed == {"demographic_parity_difference[sex]", "demographic_parity_difference[sex&race]",
                      "demographic_parity_ratio[sex]", "membership_inference_auc"}


def test_junit_escapes_hostile_names():
    audit = {"fairness": {"<x>&\"y\"": {"demographic_parity_difference": 0.5}}}
    xml = evaluate(audit, parse_policy("rules: {demographic_parity_difference: {max: 0.1}}")).to_junit_xml()
    root = ET.fromstring(xml.split("\n", 1)[1])
    assert root.find("testsuite/testcase").get("name") == 'demographic_parity_difference[<x>&"y"]'


@pytest.mark.parametrize("text, fragment", [
    ("rules: {accuracy: {greater_than: 0.7}}", "unknown comparator"),
    ("rules: {accuracy: {min: high}}", "finite number"),
    ("rules: {accuracy: {min: '1e'}}", "finite number"),
    ("rules: {accuracy: {min: .nan}}", "finite number"),
    ("rules: {accuracy: {min: true}}", "finite number"),
    ("rules: {accuracy: {}}", "no bound"),
    ("rules: {accuracy: 0.7}", "must be a mapping"),
    ("rules: {accuracy: {min: 0.9, max: 0.1}}", "above max"),
    ("rules: {}", "'rules' must map"),
    ("accuracy: {min: 0.7}", "'rules:' section"),
    ("rules: {accuracy: {min: 0.7, path: 'a..b'}}", "empty segment"),
    ("rules: {accuracy: {min: 0.7, path: 3}}", "dotted path"),
    ("rules: [accuracy\n", "not valid YAML"),
    ("!!python/object/apply:os.system ['touch /tmp/pwned']", "tag not allowed"),
    ("rules:\n  accuracy: !!python/object:collections.OrderedDict {min: 1}", "tag not allowed"),
])
def test_bad_policies_are_refused_clearly(text, fragment):
    with pytest.raises(PolicyError, match=fragment.replace("(", r"\(")):
        parse_policy(text)


def test_load_policy_missing_file(tmp_path):
    with pytest.raises(PolicyError, match="does not exist"):
        load_policy(tmp_path / "nope.yaml")


def test_default_policy_matches_documented_bounds():
    rules = {r.name: (r.min, r.max) for r in load_policy(None).rules}
    assert rules == {
        "demographic_parity_difference": (None, 0.1), "demographic_parity_ratio": (0.8, None),
        "equalized_odds_difference": (None, 0.1), "accuracy": (0.7, None), "epsilon": (None, 8.0),
        "membership_inference_auc": (None, 0.6), "kwh_per_1k_predictions": (None, 0.05),
    }
    assert all(math.isfinite(b) for pair in rules.values() for b in pair if b is not None)


def test_exponent_without_dot_is_a_number():
    rule = parse_policy("rules: {delta: {max: 1e-5}, kwh: {max: '2E3'}}").rules
    assert (rule[0].max, rule[1].max) == (1e-5, 2000.0)
