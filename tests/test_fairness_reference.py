"""The fairness engine against fairlearn's MetricFrame / disparity functions and scikit-learn, to 1e-9."""
from __future__ import annotations

import functools
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import sklearn.metrics as skm
from fairlearn import metrics as flm
from sklearn.calibration import calibration_curve

from auditkit.fairness import assess

TOL = 1e-9


def _binary_data(n: int, seed: int, *, attrs: dict[str, list[str]], labels=("0", "1")) -> tuple:
    rng = np.random.default_rng(seed)
    sf = pd.DataFrame({name: rng.choice(values, n) for name, values in attrs.items()})
    score = rng.random(n)
    y_true = np.where(rng.random(n) < 0.2 + 0.6 * score, labels[1], labels[0])
    y_pred = np.where(score >= 0.5, labels[1], labels[0])
    return y_true, y_pred, sf, score


def _no_positive_groups() -> tuple:
    """Group 'c' has no positive labels, group 'd' no positive predictions, group 'e' only positives."""
    y_true, y_pred, sf, score = _binary_data(600, 3, attrs={"g": list("abcde"), "h": ["x", "y"]})
    g = sf["g"].to_numpy()
    y_true = np.where(g == "c", "0", y_true)
    y_pred = np.where(g == "d", "0", y_pred)
    y_true = np.where(g == "e", "1", y_true)
    return y_true, y_pred, sf, score


DATASETS = {
    "two_attributes": lambda: _binary_data(3000, 0, attrs={"sex": ["F", "M"], "race": ["a", "b", "c", "NA"]}),
    "three_attributes_small_groups": lambda: _binary_data(
        400, 1, attrs={"sex": ["F", "M"], "age": ["<25", "25-60", ">60"], "region": ["n", "s", "e", "w"]}
    ),
    "yes_no_labels": lambda: _binary_data(1500, 2, attrs={"grp": ["p", "q", "r"]}, labels=("no", "yes")),
    "no_positives_in_group": _no_positive_groups,
}
POS = {"yes_no_labels": "yes"}
CHECKED = {"three_attributes_small_groups": {"region", "sex&age", "sex&age&region"}}


def _reference_frame(y_true, y_pred, sf: pd.DataFrame, pos: str) -> flm.MetricFrame:
    metrics = {
        "count": flm.count,
        "selection_rate": functools.partial(flm.selection_rate, pos_label=pos),
        "accuracy": skm.accuracy_score,
        "precision": functools.partial(skm.precision_score, pos_label=pos, zero_division=0),
        "recall": functools.partial(skm.recall_score, pos_label=pos, zero_division=0),
        "false_positive_rate": functools.partial(flm.false_positive_rate, pos_label=pos),
        "false_negative_rate": functools.partial(flm.false_negative_rate, pos_label=pos),
        "balanced_accuracy": skm.balanced_accuracy_score,
    }
    return flm.MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=sf)


def _key(index_value) -> str:
    return "&".join(map(str, index_value)) if isinstance(index_value, tuple) else str(index_value)


def _groupings(sf: pd.DataFrame):
    cols = list(sf.columns)
    for c in cols:
        yield c, sf[c]
    for k in (2, 3):
        for combo in combinations(cols, k):
            yield "&".join(combo), sf[list(combo)]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", list(DATASETS))
def test_group_metrics_and_disparities_equal_fairlearn(name):
    y_true, y_pred, sf, _ = DATASETS[name]()
    pos = POS.get(name, "1")
    report = assess(y_true, y_pred, sf, pos_label=pos, n_boot=0)
    expected_names = [name for name, _ in _groupings(sf)]
    assert list(report.to_dict()) == expected_names
    yt01, yp01 = (y_true == pos).astype(int), (y_pred == pos).astype(int)
    checked = CHECKED.get(name)
    for gname, feature in _groupings(sf):
        if checked and gname not in checked:
            continue
        mf = _reference_frame(y_true, y_pred, feature, pos)
        ours = report[gname].to_dict()
        assert set(ours["by_group"]) == {_key(i) for i in mf.by_group.index}
        for idx, row in mf.by_group.iterrows():
            got = ours["by_group"][_key(idx)]
            for metric, value in row.items():
                assert got[metric] == pytest.approx(float(value), abs=TOL), (gname, idx, metric)
        kw = {"sensitive_features": feature}
        reference = {
            "demographic_parity_difference": flm.demographic_parity_difference(yt01, yp01, **kw),
            "demographic_parity_ratio": flm.demographic_parity_ratio(yt01, yp01, **kw),
            "equalized_odds_difference": flm.equalized_odds_difference(yt01, yp01, **kw),
            "equalized_odds_ratio": flm.equalized_odds_ratio(yt01, yp01, **kw),
            "equal_opportunity_difference": flm.equal_opportunity_difference(yt01, yp01, **kw),
            "equal_opportunity_ratio": flm.equal_opportunity_ratio(yt01, yp01, **kw),
        }
        for metric, value in reference.items():
            assert ours[metric] == pytest.approx(float(value), abs=TOL), (gname, metric)


def test_undefined_values_follow_the_documented_convention():
    y_true, y_pred, sf, _ = _no_positive_groups()
    by_group = assess(y_true, y_pred, sf, n_boot=0)["g"].by_group()
    # no positive labels: recall and FNR are 0; balanced accuracy is the true-negative rate alone
    c = by_group.loc["c"]
    assert c["recall"] == 0.0 and c["false_negative_rate"] == 0.0
    mask = sf["g"].to_numpy() == "c"
    tnr = np.mean(y_pred[mask] == "0")
    assert c["balanced_accuracy"] == pytest.approx(tnr, abs=TOL)
    # no positive predictions: precision is 0, selection rate 0
    assert by_group.loc["d", "precision"] == 0.0 and by_group.loc["d", "selection_rate"] == 0.0
    # only positive labels: false-positive rate 0
    assert by_group.loc["e", "false_positive_rate"] == 0.0
    notes = " ".join(assess(y_true, y_pred, sf, n_boot=0)["g"].warnings)
    assert "'c' has no positive labels" in notes and "'d' has no positive predictions" in notes


def test_roc_auc_and_calibration_equal_sklearn_with_ties():
    y_true, y_pred, sf, score = _binary_data(2500, 5, attrs={"sex": ["F", "M"], "race": ["a", "b", "c"]})
    score = np.round(score, 1)  # many ties
    report = assess(y_true, y_pred, sf, score, n_boot=0)
    for gname in ("sex", "race", "sex&race"):
        cols = gname.split("&")
        keys = sf[cols].astype(str).agg("&".join, axis=1).to_numpy()
        d = report[gname].to_dict()["by_group"]
        for key, entry in d.items():
            m = keys == key
            assert entry["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true[m] == "1", score[m]), abs=TOL)
            prob_true, prob_pred = calibration_curve(y_true[m] == "1", score[m], n_bins=10, strategy="uniform")
            np.testing.assert_allclose([b["observed_rate"] for b in entry["calibration"]], prob_true, atol=TOL)
            np.testing.assert_allclose([b["mean_score"] for b in entry["calibration"]], prob_pred, atol=TOL)
            assert sum(b["count"] for b in entry["calibration"]) == m.sum()


def test_roc_auc_is_null_for_a_single_class_group():
    y_true, y_pred, sf, score = _no_positive_groups()
    d = assess(y_true, y_pred, sf, score, n_boot=0)["g"].to_dict()["by_group"]
    assert d["c"]["roc_auc"] is None and d["e"]["roc_auc"] is None
    m = sf["g"].to_numpy() == "a"
    assert d["a"]["roc_auc"] == pytest.approx(skm.roc_auc_score(y_true[m] == "1", score[m]), abs=TOL)


def test_integer_labels_and_series_input():
    rng = np.random.default_rng(7)
    n = 800
    y_true, y_pred = rng.integers(0, 2, n), rng.integers(0, 2, n)
    sex = pd.Series(rng.choice(["F", "M"], n), name="sex")
    report = assess(y_true, y_pred, sex, n_boot=0)
    assert report.names == ("sex",)
    assert report["sex"].disparities["demographic_parity_difference"] == pytest.approx(
        flm.demographic_parity_difference(y_true, y_pred, sensitive_features=sex), abs=TOL
    )
