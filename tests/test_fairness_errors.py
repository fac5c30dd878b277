"""Error analysis finds a planted failing cohort, with its size, error rate and an exact interval."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from auditkit.errors import SettingsError
from auditkit.fairness.errors_analysis import clopper_pearson, error_cohorts, error_heatmap


def test_planted_cohort_is_the_worst():
    rng = np.random.default_rng(0)
    n = 4000
    cols = pd.DataFrame({"age": rng.integers(18, 80, n), "income": rng.normal(50, 10, n),
                         "sex": rng.choice(["F", "M"], n)})
    y = rng.choice(["0", "1"], n)
    planted = ((cols["age"] > 60) & (cols["sex"] == "F")).to_numpy()
    flip = np.where(planted, rng.random(n) < 0.6, rng.random(n) < 0.05)
    pred = np.where(flip, np.where(y == "1", "0", "1"), y)
    result = error_cohorts(cols, y, pred, max_depth=2, min_cohort_size=50)
    worst = result.cohorts[0]
    assert set(worst.conditions) == {"age > 60.5", "sex = F"}
    assert planted[worst.rows].mean() > 0.95 and worst.rows[planted].mean() > 0.95
    assert worst.error_rate == pytest.approx(0.6, abs=0.06)
    assert worst.size == int(worst.rows.sum()) and worst.errors == int((pred != y)[worst.rows].sum())
    assert worst.ci95[0] < worst.error_rate < worst.ci95[1]
    assert sum(c.size for c in result.cohorts) == n
    assert result.overall_error_rate == pytest.approx(np.mean(pred != y))
    assert result.to_dict()["cohorts"][0]["description"] == worst.description


def test_clopper_pearson_matches_scipy():
    for k, n in ((0, 20), (7, 40), (40, 40), (123, 1000)):
        ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
        assert clopper_pearson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_bad_settings():
    with pytest.raises(SettingsError, match="max_depth"):
        error_cohorts(pd.DataFrame({"a": [1, 2]}), ["0", "1"], ["0", "0"], max_depth=0)


def test_conditions_on_one_column_merge_into_a_range():
    rng = np.random.default_rng(1)
    n = 3000
    cols = pd.DataFrame({"income": rng.uniform(0, 100_000, n)})
    y = np.zeros(n, dtype=int).astype(str)
    band = ((cols["income"] > 40_000) & (cols["income"] <= 60_000)).to_numpy()
    pred = np.where(band & (rng.random(n) < 0.7), "1", "0")
    worst = error_cohorts(cols, y, pred, max_depth=2, min_cohort_size=50).cohorts[0]
    assert len(worst.conditions) == 1
    lo, hi = [float(v.replace(",", "")) for v in worst.conditions[0].split(" < income <= ")]
    assert lo == pytest.approx(40_000, abs=500) and hi == pytest.approx(60_000, abs=500)


def test_error_heatmap_rates_and_counts():
    rng = np.random.default_rng(2)
    n = 2000
    cols = pd.DataFrame({"age": rng.uniform(18, 80, n), "sex": rng.choice(["F", "M"], n)})
    y = np.full(n, "0")
    pred = np.where((cols["sex"] == "F").to_numpy() & (cols["age"] > cols["age"].quantile(0.8)).to_numpy(), "1", "0")
    rate, count = error_heatmap(cols, "age", "sex", y, pred, bins=5)
    assert rate.shape == (5, 2) and count.to_numpy().sum() == n
    assert rate.iloc[-1]["F"] == 1.0 and rate.iloc[-1]["M"] == 0.0 and rate.iloc[0]["F"] == 0.0
    lows = [float(label.split(" to ")[0]) for label in rate.index]
    assert lows == sorted(lows)
    by_sex = pd.Series(pred != y).groupby(cols["sex"]).mean()
    f_rate = (rate["F"] * count["F"]).sum() / count["F"].sum()
    assert f_rate == pytest.approx(by_sex["F"])
