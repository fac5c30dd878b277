"""`audit`'s exit status follows the scorecard: 1 when any rule of the policy fails, the shipped default included;
`--exit-zero` opts out. The JUnit file says the same either way."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from auditkit.cli import main


def decision_log(path, *, biased: bool):
    """400 decisions, groups F and M alike in their labels; a biased log approves every F (demographic parity
    difference 0.5, accuracy 0.75), a fair one predicts the label exactly."""
    rows = [{"x": i, "sex": "FM"[i % 2], "y": (i // 2) % 2} for i in range(400)]
    frame = pd.DataFrame(rows)
    frame["pred"] = [1 if biased and r["sex"] == "F" else r["y"] for r in rows]
    frame.to_csv(path, index=False)
    return path


def audit(tmp_path, data, *extra) -> int:
    return main(["audit", "--data", str(data), "--target", "y", "--sensitive", "sex", "--prediction-column", "pred",
                 "--out", str(tmp_path / "out"), "--quiet", *extra])


def failures(junit) -> int:
    return int(ET.parse(junit).getroot().find("testsuite").get("failures"))


def test_default_policy_failure_exits_1_without_policy_flag(tmp_path, capsys):
    data = decision_log(tmp_path / "log.csv", biased=True)
    assert audit(tmp_path, data, "--junit", str(tmp_path / "card.xml")) == 1
    out = capsys.readouterr().out
    assert "policy auditkit-default: 1 passed, 3 failed, 3 not measured" in out
    assert "  FAIL demographic_parity_difference[sex]: demographic_parity_difference[sex] = 0.5, above the maximum 0.1" in out
    assert failures(tmp_path / "card.xml") == 3  # demographic parity difference and ratio, equalized odds


def test_exit_zero_opts_out_and_still_writes_the_failures(tmp_path, capsys):
    data = decision_log(tmp_path / "log.csv", biased=True)
    assert audit(tmp_path, data, "--exit-zero", "--junit", str(tmp_path / "card.xml")) == 0
    assert "  FAIL demographic_parity_difference[sex]: " in capsys.readouterr().out
    assert failures(tmp_path / "card.xml") == 3


@pytest.mark.parametrize("biased, policy, code", [
    (False, None, 0),                                          # the default policy passes a fair, exact log
    (True, "rules: {accuracy: {min: 0.7}}", 0),                # a policy whose rules all pass
    (True, "rules: {accuracy: {min: 0.8}}", 1),
])
def test_exit_status_is_the_scorecards(tmp_path, biased, policy, code):
    data = decision_log(tmp_path / "log.csv", biased=biased)
    extra = []
    if policy:
        (tmp_path / "policy.yaml").write_text(policy)
        extra = ["--policy", str(tmp_path / "policy.yaml")]
    assert audit(tmp_path, data, *extra) == code
