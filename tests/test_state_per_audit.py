"""Results a page keeps in session state belong to the audit they were made on: two audits in one session, a
result made on the first never shows on the second (and is still there when the first is shown again)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from auditkit.audit import run_audit
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from tests.builders import tabular_frame, tabular_model

PAGES = Path(__file__).resolve().parents[1] / "pages"
WEIGHTS = "Download model weights (safetensors)"


@pytest.fixture(scope="module")
def audits(tmp_path_factory, request):
    """A tabular audit with a model, the same model on other data, and a predictions-only audit."""
    tmp = tmp_path_factory.mktemp("audits")
    patch = pytest.MonkeyPatch()
    request.addfinalizer(patch.undo)
    patch.setenv("AUDITKIT_HOME", str(tmp / "home"))
    model = tabular_model(tmp / "m.pt2")
    spec = AuditSpec(target="y", sensitive=("sex",), features=("x1", "x2"))
    made = []
    for name, frame in (("first.csv", tabular_frame()), ("other.csv", tabular_frame(seed=1))):
        frame.to_csv(tmp / name, index=False)
        made.append(run_audit(tmp / name, spec, model=model))
    scored = tabular_frame(seed=2).assign(pred=lambda f: (f.x1 > 0).astype(int))
    scored.to_csv(tmp / "scored.csv", index=False)
    made.append(run_audit(tmp / "scored.csv", AuditSpec(target="y", sensitive=("sex",), prediction_column="pred")))
    return made


def show(at: AppTest, audit: tuple[dict, AuditContext]) -> AppTest:
    """Make `audit` the session's audit, as opening it on Run or History does, and rerun the page."""
    at.session_state["audit"], at.session_state["audit_context"] = audit
    return at.run()


def downloads(at: AppTest) -> list[str]:
    return [d.proto.label for d in at.get("download_button")]


def test_a_private_model_trained_on_one_audit_never_shows_on_another(audits):
    first, other, no_model = audits
    at = AppTest.from_file(str(PAGES / "privacy.py"), default_timeout=120)
    at.session_state["privacy_tab"] = "Train privately"
    show(at, first)
    next(n for n in at.number_input if n.label == "Epochs").set_value(1)
    next(n for n in at.number_input if n.label == "Batch size (expected)").set_value(32)
    next(b for b in at.button if b.label == "Train at this epsilon").click().run()
    [job] = at.session_state["privacy_jobs"].values()
    assert job.wait(timeout=120) and job.result is not None
    at.run()
    assert not at.exception
    assert downloads(at) == [WEIGHTS, "Download privacy record (JSON)"]

    show(at, other)  # the same model on other rows: its own, untrained, form
    assert not at.exception and downloads(at) == []
    assert any(b.label == "Train at this epsilon" for b in at.button)
    show(at, no_model)  # no model: nothing to train, no weights to offer
    assert not at.exception and downloads(at) == [] and not at.button
    assert any(i.value.startswith("This audit has no model") for i in at.info)
    show(at, first)  # the result still belongs to the first audit
    assert downloads(at) == [WEIGHTS, "Download privacy record (JSON)"]


def scored_context(tmp_path, digest: str, seed: int) -> AuditContext:
    """A predictions-only audit with scores, in which women are approved less often."""
    rng = np.random.default_rng(seed)
    n = 1200
    sex = rng.choice(["woman", "man"], n)
    score = np.clip(rng.random(n) - np.where(sex == "woman", 0.25, 0.0), 0, 1)
    frame = pd.DataFrame({"sex": sex, "band": rng.choice(["y", "z"], n),
                          "label": np.where(rng.random(n) < 0.5, "1", "0"), "pred": np.where(score >= 0.5, "1", "0"),
                          "score": score})
    spec = AuditSpec(target="label", sensitive=("sex", "band"), prediction_column="pred", score_column="score")
    return AuditContext(spec, frame, digest * 64, frame["label"].to_numpy(str), frame["pred"].to_numpy(str), score,
                        ("0", "1"), Settings(home=tmp_path))


def test_mitigation_results_and_cohort_filters_stay_with_their_audit(tmp_path):
    first, second = ({}, scored_context(tmp_path, "a", 0)), ({}, scored_context(tmp_path, "b", 1))
    at = AppTest.from_file(str(PAGES / "fairness.py"), default_timeout=120)
    at.session_state["fairness_tab"] = "Mitigation"
    show(at, first)
    at.button(key="mit_run").click().run()
    assert not at.exception
    assert "Mitigated predictions (CSV)" in downloads(at)
    show(at, second)  # the same method and constraint are chosen, but nobody ran them on this audit
    assert not at.exception and downloads(at) == []
    show(at, first)
    assert "Mitigated predictions (CSV)" in downloads(at)

    at.session_state["fairness_tab"] = "Error analysis"
    at.run()
    at.button(key="cohort_apply").click().run()
    assert any("Filtered to the cohort" in i.value for i in at.info)
    show(at, second)
    assert not any("Filtered to the cohort" in i.value for i in at.info)
    assert "cohort_context" not in at.session_state


def test_the_counterfactual_test_runs_on_each_audit_only_when_asked(tmp_path):
    from auditkit.checkpoints.loader import load_model
    from tests.builders import tiny_bert

    model = load_model(tiny_bert(tmp_path / "bert"))
    texts = ["she was very good", "he was not good", "the film was bad", "he was great", "she was awful"] * 8
    frame = pd.DataFrame({"text": texts, "sex": ["f", "m", "x", "m", "f"] * 8,
                          "y": ["0", "1"] * 20, "p": ["1", "1", "0", "0"] * 10})
    spec = AuditSpec(target="y", sensitive=("sex",), text_column="text", prediction_column="p")
    first = AuditContext(spec, frame, "d" * 64, frame["y"].to_numpy(str), frame["p"].to_numpy(str), None,
                         ("0", "1"), Settings(home=tmp_path), model=model)
    second = replace(first, data_sha256="e" * 64, _results={})
    at = AppTest.from_file(str(PAGES / "fairness.py"), default_timeout=120)
    at.session_state["fairness_tab"] = "Counterfactual text test"
    show(at, ({}, first))
    at.button(key="cf_run").click().run()
    assert not at.exception and len(at.get("plotly_chart")) == 1  # flip rates and score shifts by term pair
    show(at, ({}, second))  # another audit's test waits for its own click
    assert not at.exception and len(at.get("plotly_chart")) == 0 and at.button(key="cf_run")
    show(at, ({}, first))
    assert len(at.get("plotly_chart")) == 1
