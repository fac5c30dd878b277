"""The vectorized threshold sweep equals assessing the thresholded predictions one threshold at a time."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from auditkit.errors import SettingsError
from auditkit.fairness import assess
from auditkit.fairness.thresholds import threshold_sweep


def _data(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    sf = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "band": rng.choice(["x", "y", "z"], n)})
    score = np.round(rng.random(n), 2)  # scores exactly on grid points test the >= rule
    y_true = np.where(rng.random(n) < score, "1", "0")
    return y_true, score, sf


def test_sweep_equals_per_threshold_assessment():
    y_true, score, sf = _data()
    sweep = threshold_sweep(y_true, score, sf)
    assert len(sweep.thresholds) == 101
    for t in (0.0, 0.13, 0.5, 0.77, 1.0):
        k = sweep.index_of(t)
        y_pred = np.where(score >= sweep.thresholds[k], "1", "0")
        direct = assess(y_true, y_pred, sf, n_boot=0)
        for name in ("sex", "band", "sex&band"):
            expected = direct[name].by_group()
            got = sweep[name].at(k)
            pd.testing.assert_frame_equal(got[expected.columns].astype(float), expected.astype(float), atol=1e-12)
            for metric, value in direct[name].disparities.items():
                np.testing.assert_allclose(sweep[name].disparities[metric][k], value, atol=1e-12, equal_nan=True)


def test_custom_grid_and_bad_grid():
    y_true, score, sf = _data(300, 1)
    sweep = threshold_sweep(y_true, score, sf["sex"], thresholds=[0.2, 0.4, 0.6])
    assert sweep.disparity_frame("sex").shape == (3, 6)
    with pytest.raises(SettingsError, match="increasing"):
        threshold_sweep(y_true, score, sf, thresholds=[0.5, 0.2])
