"""The Setup page: a refused checkpoint shows the reason and the way out; a predictions-only dataset gets the
likeliest prediction column, or none and no error box, before the user chooses."""
import io
import pickle
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from auditkit.families.registry import families
from auditkit.markup import plain

ROOT = Path(__file__).resolve().parents[1]
LABEL = ["1", "0", "1", "1", "0", "0"] * 10


def setup_page() -> AppTest:
    return AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).switch_page("pages/setup.py").run()


def csv(frame: pd.DataFrame) -> bytes:
    out = io.StringIO()
    frame.to_csv(out, index=False)
    return out.getvalue().encode()


def problems(at: AppTest) -> list[str]:
    return [e.value for e in at.error if e.value.startswith("**Problem:**")]


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("model.joblib", pickle.dumps({"weights": [1.0]}), "'model.joblib' is a joblib pickle"),
    ("model.pkl", pickle.dumps([1, 2]), "'model.pkl' is a Python pickle"),
    ("notes.txt", b"just some notes, not a model", "'notes.txt' is not a supported checkpoint"),
])
def test_a_refused_checkpoint_shows_the_reason_and_the_way_out(name, content, reason, workspace):
    at = setup_page()
    uploader = {u.label: u for u in at.file_uploader}["Checkpoint"]
    assert uploader.proto.type == []  # any file reaches the engine: a browser-side filter would refuse silently
    uploader.set_value((name, content, "application/octet-stream"))
    at.run()
    assert not at.exception
    [problem] = problems(at)
    assert problem.startswith("**Problem:** " + plain(reason)), problem  # the user's file name, not the stored hash
    [way_out] = [i.value for i in at.info if "Checkpoints AuditKit accepts" in i.value]
    for family in families():
        assert f"- {plain(family.description)}" in way_out
    assert "choose *Predictions are in the dataset* above" in way_out
    assert "torch.export.save" in way_out and "safe_serialization=True" in way_out
    assert not at.selectbox and not [s for s in at.success if s.value.startswith("Model loaded")]


def predictions_only(frame: pd.DataFrame) -> AppTest:
    """The Setup page with `frame` uploaded as a predictions-only dataset, label y and sensitive attribute sex."""
    at = setup_page()
    {u.label: u for u in at.file_uploader}["Dataset"].set_value(("scored.csv", csv(frame), "text/csv"))
    at.run()
    at.radio[0].set_value("Predictions are in the dataset").run()
    next(s for s in at.selectbox if s.label.startswith("Label")).set_value("y").run()
    next(m for m in at.multiselect if m.label.startswith("Sensitive")).set_value(["sex"]).run()
    assert not at.exception
    return at


def prediction_box(at: AppTest):
    return next(s for s in at.selectbox if s.label == "Prediction column")


def test_the_prediction_column_defaults_to_the_likeliest_one(workspace):
    # 'score' comes first in the file: the old default, and an error box before the user had chosen anything.
    frame = pd.DataFrame({"score": [0.9, 0.1, 0.8, 0.7, 0.2, 0.4] * 10, "y": LABEL, "sex": ["a", "b", "a"] * 20,
                          "y_pred": ["1", "0", "1", "0", "0", "0"] * 10})
    at = predictions_only(frame)
    assert prediction_box(at).value == "y_pred"
    assert problems(at) == []
    assert [s.value for s in at.success if s.value.startswith("The dataset is valid")] == [
        "The dataset is valid: 60 rows, classes 0, 1."]


def test_without_a_likely_column_nothing_is_chosen_and_no_error_is_shown(workspace):
    frame = pd.DataFrame({"score": [0.9, 0.1, 0.8, 0.7, 0.2, 0.4] * 10, "y": LABEL, "sex": ["a", "b", "a"] * 20,
                          "output": ["yes", "no", "yes", "no", "no", "no"] * 10})
    at = predictions_only(frame)
    assert prediction_box(at).value is None
    assert problems(at) == []
    assert "Choose the column that holds the model's predictions to continue." in [i.value for i in at.info]
    assert not at.button  # nothing to run yet
    prediction_box(at).set_value("score").run()  # a wrong choice is the user's, and is then explained
    [problem] = problems(at)
    assert "prediction column 'score' holds" in problem
