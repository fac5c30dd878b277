import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from auditkit.prepare import load_dataset
from auditkit.config import Settings
from auditkit.data.spec import AuditSpec
from auditkit.data.validate import validate_dataset
from auditkit.errors import DataValidationError

from tests.builders import tabular_frame


def spec(**kw):
    return AuditSpec(**{"target": "y", "sensitive": ("sex",), **kw})


def test_default_features_are_every_column_without_a_role_in_file_order():
    ds = validate_dataset(tabular_frame().assign(split="train"), spec(sensitive=("sex", "race")), needs_features=True)
    assert ds.spec.features == ("x1", "x2")
    with pytest.raises(DataValidationError, match="feature 'race' must be numeric and finite; row 1 holds"):
        validate_dataset(tabular_frame(), spec(), needs_features=True)


def test_valid_dataset_types_features_and_keeps_na_group():
    frame = tabular_frame().astype(str)
    ds = validate_dataset(frame, spec(features=("x1", "x2"), sensitive=("sex", "race")), needs_features=True)
    assert ds.frame["x1"].dtype == np.float32
    assert "NA" in set(ds.frame["race"])
    assert ds.classes == ("0", "1")
    assert frame["x1"].dtype != np.float32  # the caller's frame is untouched


def test_every_problem_is_reported_at_once_naming_column_and_fix():
    frame = tabular_frame().astype({"x2": object})
    frame.loc[4, "sex"] = ""
    frame.loc[7, "x2"] = "abc"
    with pytest.raises(DataValidationError) as info:
        validate_dataset(frame, spec(features=("x1", "x2", "nope")), needs_features=True)
    assert info.value.problems == ["column 'nope' (feature) is not in the file. Fix: choose one of: x1, x2, sex, race, y."]
    with pytest.raises(DataValidationError) as info:
        validate_dataset(frame, spec(features=("x1", "x2")), needs_features=True)
    problems = info.value.problems
    assert "sensitive attribute 'sex' has 1 empty or NaN values (first at row 5)" in problems[0]
    assert "feature 'x2' must be numeric and finite; row 8 holds 'abc'" in problems[1]


@pytest.mark.parametrize("mutate, message", [
    (lambda f: f.assign(y=1), "has only one class ('1')"),
    (lambda f: f.assign(y=np.where(f.y == 1, "yes", "no")), "positive label '1' does not occur in 'y' (values: no, yes)"),
    (lambda f: f.assign(y=np.arange(len(f))), "distinct values; this looks like a continuous column"),
    (lambda f: f.assign(y=f.y.astype(float).where(f.index != 3)), "label column 'y' has 1 empty or NaN values (first at row 4)"),
    (lambda f: f.assign(x1=f.x1.where(f.index != 2, np.inf)), "feature 'x1' must be numeric and finite; row 3 holds 'inf'"),
])
def test_bad_values_name_column_and_row(mutate, message):
    with pytest.raises(DataValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_dataset(mutate(tabular_frame()), spec(features=("x1", "x2")), needs_features=True)


def test_role_conflicts_are_refused():
    with pytest.raises(DataValidationError, match="'y' is both the label and a sensitive attribute"):
        validate_dataset(tabular_frame(), spec(sensitive=("y",)))
    with pytest.raises(DataValidationError, match="the label column 'y' is also listed as a feature"):
        validate_dataset(tabular_frame(), spec(features=("x1", "y")))


def test_float_labels_match_integer_positive_label():
    frame = tabular_frame().assign(y=lambda f: f.y.astype(float))
    assert validate_dataset(frame, spec()).classes == ("0", "1")


def test_predictions_and_scores_are_checked():
    frame = tabular_frame().assign(pred=lambda f: f.y, score=0.5)
    ds = validate_dataset(frame, spec(prediction_column="pred", score_column="score"))
    assert ds.frame["pred"].tolist()[:3] == [str(v) for v in frame.y[:3]]
    with pytest.raises(DataValidationError, match="prediction column 'pred' holds '7' at row 1"):
        validate_dataset(frame.assign(pred=7), spec(prediction_column="pred"))
    with pytest.raises(DataValidationError, match="score column 'score' must hold probabilities in \\[0, 1\\]; row 1"):
        validate_dataset(frame.assign(score=np.r_[1.5, np.zeros(len(frame) - 1)]), spec(score_column="score"))
    with pytest.raises(DataValidationError, match="score column 'score' has no usable values"):
        validate_dataset(frame.assign(score=np.nan), spec(score_column="score"))


def test_small_groups_are_warned_not_dropped():
    frame = tabular_frame(n=200)
    frame.loc[:4, "sex"] = "other"
    ds = validate_dataset(frame, spec(), settings=Settings(min_group_size=30))
    assert ds.warnings == ("group 'other' of 'sex' has only 5 rows (minimum 30); its metrics are uncertain.",)
    assert (ds.frame["sex"] == "other").sum() == 5


def test_load_dataset_from_csv_path(tmp_path):
    path = tmp_path / "d.csv"
    tabular_frame().to_csv(path, index=False)
    ds = load_dataset(path, spec(sensitive=("sex", "race")), needs_features=True)
    assert len(ds.frame) == 400 and "NA" in set(ds.frame["race"])


cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=20))
def test_validator_either_accepts_or_explains(rows):
    frame = pd.DataFrame(rows, columns=["x1", "sex", "y"])
    try:
        ds = validate_dataset(frame, AuditSpec(target="y", sensitive=("sex",), positive_label=str(rows[0][2])), needs_features=True)
    except DataValidationError as e:
        assert e.problems and all("Fix:" in p for p in e.problems)
    else:
        assert np.isfinite(ds.frame["x1"].to_numpy()).all()
