"""The group metric bars are the report's numbers: bar heights are the group metrics, whiskers their intervals."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, selection_rate

from auditkit.chart_style import OKABE_ITO
from auditkit.fairness import assess
from auditkit.fairness.group_chart import group_bars


@pytest.fixture(scope="module")
def report():
    """Women are selected at about half the men's rate."""
    rng = np.random.default_rng(5)
    n = 3000
    sex = rng.choice(["woman", "man"], n)
    y_true = np.where(rng.random(n) < 0.5, "1", "0")
    y_pred = np.where(rng.random(n) < np.where(sex == "woman", 0.3, 0.6), "1", "0")
    return assess(y_true, y_pred, pd.DataFrame({"sex": sex}), n_boot=200), y_true, y_pred, sex


def test_bars_are_the_group_metrics_with_interval_whiskers(report):
    fairness, y_true, y_pred, sex = report
    grouping = fairness["sex"]
    fig = group_bars(grouping, ["selection_rate", "recall"])
    assert [t.name for t in fig.data] == ["Selection rate", "Recall (true-positive rate)"]
    selection = fig.data[0]
    reference = MetricFrame(metrics=selection_rate, y_true=y_true == "1", y_pred=y_pred == "1",
                            sensitive_features=sex).by_group
    heights = dict(zip(selection.x, map(float, selection.y)))
    assert heights == pytest.approx({g: reference[g] for g in ("woman", "man")}, abs=1e-12)
    assert heights["woman"] < 0.7 * heights["man"]  # the injected gap
    intervals = grouping.intervals_frame().set_index(["metric", "group"])
    for group, up, down in zip(selection.x, selection.error_y.array, selection.error_y.arrayminus):
        low, high = intervals.loc[("selection_rate", group), ["ci_low", "ci_high"]]
        assert heights[group] + up == pytest.approx(high) and heights[group] - down == pytest.approx(low)
        assert low < heights[group] < high
    assert [t.marker.color for t in fig.data] == list(OKABE_ITO[:2])
    assert fig.layout.template.layout.colorway == OKABE_ITO  # styled in a notebook too


def test_no_metric_chosen_is_an_empty_chart(report):
    assert group_bars(report[0]["sex"], []).data == ()
