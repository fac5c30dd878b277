"""The one integration test: build the full built-in demo, audit it from the CLI, find the injected biases."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_audits(tmp_path_factory):
    import os

    home = tmp_path_factory.mktemp("demo-home")
    out = tmp_path_factory.mktemp("demo-out")
    env = {**os.environ, "AUDITKIT_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "auditkit", "demo", "--out", str(out), "--quiet"], cwd=ROOT,
                            capture_output=True, text=True, env=env, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    audits = {name: json.loads((out / name / "audit.json").read_text()) for name in ("lending", "reviews")}
    truth = {name: json.loads((home / "demo" / name / "recipe.json").read_text())["ground_truth"] for name in audits}
    return audits, truth, env


@pytest.mark.integration
def test_lending_audit_finds_the_injected_bias(demo_audits):
    audits, truth, _ = demo_audits
    audit, expected = audits["lending"], truth["lending"]["model"]
    for attr in ("sex", "race"):
        section = audit["fairness"][attr]
        assert section["demographic_parity_difference"] >= expected[attr]["demographic_parity_difference_min"]
        assert section["four_fifths_rule"]["least_favoured"] == expected[attr]["least_favoured"]
    assert audit["fairness"]["age_group"]["demographic_parity_difference"] <= expected["age_group"]["demographic_parity_difference_max"]
    assert audit["predictions"]["accuracy"] == pytest.approx(expected["accuracy"], abs=0.05)
    failed = {r["name"] for r in audit["scorecard"]["results"] if r["status"] == "fail"}
    assert {"demographic_parity_difference[sex]", "demographic_parity_difference[race]"} <= failed


@pytest.mark.integration
def test_reviews_audit_finds_the_identity_term_bias(demo_audits):
    audits, truth, _ = demo_audits
    audit, expected = audits["reviews"], truth["reviews"]["model"]
    assert audit["inputs"]["model_format"] == "hf-safetensors"
    assert audit["predictions"]["accuracy"] >= expected["accuracy_min"]
    for attr in ("religion", "nationality"):
        section = audit["fairness"][attr]
        assert section["demographic_parity_difference"] >= expected[attr]["demographic_parity_difference_min"]
        assert section["four_fifths_rule"]["least_favoured"] == expected[attr]["least_favoured"]


@pytest.mark.integration
def test_demo_audits_are_stored_and_the_trail_verifies(demo_audits):
    _, _, env = demo_audits
    result = subprocess.run([sys.executable, "-m", "auditkit", "verify"], cwd=ROOT, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
@pytest.mark.parametrize("name", ["lending", "reviews"])
def test_demo_audits_match_their_golden_audit(demo_audits, name):
    """The demos' audit.json as the code before the model worker wrote it, apart from timings, versions, energy
    and the scorecard (whose energy rules read measured values)."""
    from tests.golden_support import differences, golden, normalised

    audits, _, _ = demo_audits
    got = normalised(audits[name])
    got.pop("scorecard", None)
    problems = differences(got, golden(f"demo-{name}"), rel=1e-4, abs_=1e-6)
    assert not problems, "\n".join(problems[:30])
