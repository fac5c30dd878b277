"""Bootstrap intervals, warnings, verdicts on injected bias and on fair data, and input errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditkit.errors import DataValidationError, SettingsError
from auditkit.fairness import assess
from auditkit.fairness.bootstrap import bootstrap_intervals
from auditkit.fairness.counts import ConfusionCounts
from auditkit.fairness.metrics import disparities, group_metrics


def _biased(n: int = 20000, seed: int = 0, *, rate_f: float = 0.3, rate_m: float = 0.5) -> tuple:
    """Women are predicted positive at rate_f, men at rate_m; race has no effect."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], n)
    race = rng.choice(["a", "b", "c"], n)
    y_true = rng.random(n) < 0.4
    rate = np.where(sex == "female", rate_f, rate_m)
    y_pred = rng.random(n) < rate
    sf = pd.DataFrame({"sex": sex, "race": race})
    return np.where(y_true, "1", "0"), np.where(y_pred, "1", "0"), sf


def test_injected_bias_is_found_with_direction_and_size():
    y_true, y_pred, sf = _biased()
    report = assess(y_true, y_pred, sf, n_boot=200)
    sex = report["sex"]
    assert sex.four_fifths.least_favoured == "female" and sex.four_fifths.most_favoured == "male"
    assert sex.four_fifths.passed is False
    assert sex.disparities["demographic_parity_ratio"] == pytest.approx(0.6, abs=0.03)
    assert sex.disparities["demographic_parity_difference"] == pytest.approx(0.2, abs=0.02)
    assert sex.checks["demographic_parity_difference"].passed is False
    assert sex.checks["demographic_parity_ratio"].passed is False
    assert sex.checks["equalized_odds_difference"].passed is False
    lo, hi = sex.intervals.disparity["demographic_parity_difference"]
    assert lo <= sex.disparities["demographic_parity_difference"] <= hi and lo > 0.15
    sentence = sex.four_fifths.sentence
    assert "sex=female receives the positive prediction ('1') at 0.6" in sentence
    assert sentence.endswith("the rate of sex=male: below the four-fifths rule.")
    assert report["race"].four_fifths.passed is True
    assert report.passed is False


def test_fair_data_raises_no_alarm_at_default_thresholds():
    y_true, y_pred, sf = _biased(rate_f=0.4, rate_m=0.4, seed=1)
    report = assess(y_true, y_pred, sf, n_boot=0)
    assert report.passed
    for g in report.groupings:
        assert all(c.passed for c in g.checks.values()), g.name
        assert g.four_fifths.passed


def test_bootstrap_is_seeded_and_covers_the_estimate():
    y_true, y_pred, sf = _biased(3000, 2)
    a = assess(y_true, y_pred, sf, n_boot=300, seed=5)["sex"]
    b = assess(y_true, y_pred, sf, n_boot=300, seed=5)["sex"]
    c = assess(y_true, y_pred, sf, n_boot=300, seed=6)["sex"]
    np.testing.assert_array_equal(a.intervals.group["selection_rate"], b.intervals.group["selection_rate"])
    assert not np.array_equal(a.intervals.group["selection_rate"], c.intervals.group["selection_rate"])
    for metric, ci in a.intervals.group.items():
        assert np.all(ci[:, 0] <= a.metrics[metric] + 1e-12) and np.all(a.metrics[metric] <= ci[:, 1] + 1e-12)


def test_multinomial_bootstrap_matches_the_row_bootstrap():
    """Resampling the counts gives the same interval as resampling rows (up to Monte Carlo error)."""
    y_true, y_pred, sf = _biased(4000, 3)
    sex = (sf["sex"] == "male").to_numpy().astype(int)
    yt, yp = (y_true == "1").astype(int), (y_pred == "1").astype(int)
    cells = np.bincount(sex * 4 + yt * 2 + yp, minlength=8).reshape(2, 4)
    ours = bootstrap_intervals(cells, n_boot=2000, rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    code = sex * 4 + yt * 2 + yp
    reps = np.stack([np.bincount(code[rng.integers(0, len(code), len(code))], minlength=8) for _ in range(2000)])
    rows = disparities(group_metrics(ConfusionCounts.from_cells(reps.reshape(-1, 2, 4))))
    for name in ("demographic_parity_difference", "equalized_odds_difference"):
        expected = np.quantile(rows[name], [0.025, 0.975])
        np.testing.assert_allclose(ours.disparity[name], expected, atol=0.006)


def test_small_groups_are_kept_and_warned():
    rng = np.random.default_rng(0)
    n = 500
    grp = np.where(np.arange(n) < 12, "tiny", rng.choice(["big1", "big2"], n))
    y = rng.integers(0, 2, n).astype(str)
    report = assess(y, y[::-1].copy(), pd.Series(grp, name="g"), n_boot=50, min_group_size=30)
    d = report.to_dict()["g"]
    assert d["by_group"]["tiny"]["count"] == 12
    assert d["small_groups"] == {"tiny": 12}
    assert any("'tiny' has 12 rows (fewer than 30)" in w for w in d["warnings"])


def test_json_shape_and_intersection_keys():
    y_true, y_pred, sf = _biased(1000, 4)
    d = assess(y_true, y_pred, sf, n_boot=20).to_dict()
    assert list(d) == ["sex", "race", "sex&race"]
    assert set(d["sex&race"]["by_group"]) == {f"{s}&{r}" for s in ("female", "male") for r in "abc"}
    entry = d["sex"]
    for key in ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                "equalized_odds_ratio", "equal_opportunity_difference", "four_fifths_rule", "ci95", "checks"):
        assert key in entry
    group = entry["by_group"]["female"]
    assert list(group)[:9] == ["count", "selection_rate", "accuracy", "precision", "recall",
                               "false_positive_rate", "false_negative_rate", "balanced_accuracy", "ci95"]
    assert entry["checks"]["demographic_parity_ratio"]["min"] == 0.8


def test_intersections_can_be_turned_off():
    y_true, y_pred, sf = _biased(500, 5)
    assert assess(y_true, y_pred, sf, n_boot=0, intersections=False).names == ("sex", "race")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sensitive_features": pd.Series(["a"] * 6, name="sex")}, "single group ('a')"),
        ({"y_true": np.array(["0", "1", "2", "0", "1", "2"])}, "not binary: found 3 classes ('0', '1', '2')"),
        ({"y_score": np.full(6, np.nan)}, "entirely missing (all NaN)"),
        ({"y_score": np.array([0.1, np.nan, 0.3, 0.4, 0.5, 0.6])}, "1 missing values"),
        ({"y_score": np.array([0.1, 2.0, 0.3, 0.4, 0.5, 0.6])}, "in [0, 1]"),
        ({"pos_label": "yes"}, "positive label 'yes' does not occur"),
        ({"sensitive_features": pd.Series(["a", None, "b", "a", "b", "a"], name="sex")}, "'sex' has 1 missing values"),
        ({"y_pred": np.array(["0", "1"])}, "y_pred has 2 rows but y_true has 6"),
    ],
)
def test_bad_input_gets_a_clear_message(kwargs, message):
    args = {
        "y_true": np.array(["0", "1", "1", "0", "1", "0"]),
        "y_pred": np.array(["0", "1", "0", "0", "1", "1"]),
        "sensitive_features": pd.Series(list("ababab"), name="sex"),
    }
    args.update(kwargs)
    with pytest.raises(DataValidationError, match=None) as err:
        assess(**args)
    assert message in str(err.value)


@pytest.mark.parametrize(("kwargs", "message"), [({"n_boot": -1}, "n_boot must be an integer >= 0"),
                                                  ({"min_group_size": 0}, "min_group_size must be an integer >= 1"),
                                                  ({"thresholds": {"dpd": ("max", 0.1)}}, "keyed by disparity names")])
def test_bad_settings(kwargs, message):
    with pytest.raises(SettingsError) as err:
        assess(["0", "1"], ["0", "1"], pd.Series(["a", "b"]), **kwargs)
    assert message in str(err.value)


def test_custom_policy_thresholds():
    y_true, y_pred, sf = _biased(3000, 6, rate_f=0.45, rate_m=0.5)
    loose = assess(y_true, y_pred, sf, n_boot=0)["sex"].checks["demographic_parity_difference"]
    strict = assess(y_true, y_pred, sf, n_boot=0,
                    thresholds={"demographic_parity_difference": ("max", 0.01)})["sex"].checks
    assert loose.passed is True and loose.limit == 0.1
    assert list(strict) == ["demographic_parity_difference"] and strict["demographic_parity_difference"].passed is False
