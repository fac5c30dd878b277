"""The threshold explorer carries the sweep's own numbers and the policy's verdicts at every slider step."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

from auditkit.fairness.policy import DEFAULT_THRESHOLDS, judge
from auditkit.fairness.threshold_chart import BAR_METRICS, CURVES, threshold_explorer
from auditkit.fairness.thresholds import threshold_sweep


@pytest.fixture(scope="module")
def sweep():
    """Women's scores are shifted down by 0.2: at most thresholds demographic parity fails."""
    rng = np.random.default_rng(3)
    n = 4000
    sf = pd.DataFrame({"sex": rng.choice(["woman", "man"], n), "band": rng.choice(["x", "y", "z"], n)})
    score = np.clip(rng.random(n) - np.where(sf["sex"] == "woman", 0.2, 0.0), 0, 1)
    y_true = np.where(rng.random(n) < 0.5, "1", "0")
    return threshold_sweep(y_true, score, sf)


def _plain(values) -> list:
    return [None if math.isnan(v) else pytest.approx(float(v), abs=1e-6) for v in values]


def _figure(sweep, name, **kwargs) -> dict:
    """The figure as the browser receives it."""
    return json.loads(pio.to_json(threshold_explorer(sweep, name, **kwargs), validate=False))


@pytest.mark.parametrize("name", ["sex", "sex&band"])
def test_every_step_carries_the_sweeps_numbers_at_its_threshold(sweep, name):
    grouping = sweep[name]
    slider = _figure(sweep, name)["layout"]["sliders"][0]
    assert len(slider["steps"]) == len(sweep.thresholds) == 101
    for k in (0, 17, 50, 83, 100):
        step = slider["steps"][k]
        assert float(step["label"]) == pytest.approx(sweep.thresholds[k])
        bars, layout, traces = step["args"]
        assert traces == [0, 1, 2]
        for i, metric in enumerate(BAR_METRICS):
            assert bars["y"][i] == _plain(grouping.metrics[metric][k])
        assert layout["shapes[0].x0"] == layout["shapes[0].x1"] == pytest.approx(sweep.thresholds[k])
        assert layout["annotations[3].text"] == f"Groups at threshold {sweep.thresholds[k]:.2f}"
        checks = judge({m: grouping.disparities[m][k] for m in DEFAULT_THRESHOLDS}, DEFAULT_THRESHOLDS)
        for j, check in enumerate(checks.values()):
            text = layout[f"annotations[{j}].text"]
            assert (f"{check.value:.3f}" if check.passed is not None else "undefined") in text
            assert ("✓ pass" in text) == bool(check.passed) and ("✗ fail" in text) == (check.passed is False)


def test_the_first_drawing_is_the_active_step(sweep):
    figure = _figure(sweep, "sex", start=0.3)
    slider = figure["layout"]["sliders"][0]
    k = sweep.index_of(0.3)
    assert slider["active"] == k
    bars, layout, _ = slider["steps"][k]["args"]
    for i in range(len(BAR_METRICS)):
        assert figure["data"][i]["y"] == bars["y"][i]
    for key, value in layout.items():
        kind, rest = key.split("[", 1)
        index, attribute = rest.split("].", 1)
        item = figure["layout"][kind][int(index)]
        for part in attribute.split(".")[:-1]:
            item = item[part]
        assert item[attribute.split(".")[-1]] == value


def test_curves_span_every_threshold_and_the_injected_gap_fails(sweep):
    figure = _figure(sweep, "sex")
    curves = figure["data"][len(BAR_METRICS):]
    assert [c["name"] for c in curves] == ["Demographic parity difference", "Equalized odds difference",
                                           "Equal opportunity difference"]
    for curve, metric in zip(curves, CURVES):
        assert curve["y"] == _plain(sweep["sex"].disparities[metric])
    verdict = figure["layout"]["annotations"][0]["text"]  # demographic parity difference at 0.5
    assert "✗ fail" in verdict and sweep["sex"].disparities["demographic_parity_difference"][50] > 0.15


def test_undefined_disparity_is_shown_as_undefined():
    # Nobody is predicted positive at threshold 1.0 (scores < 1), so the parity ratio is 0/0 there.
    sf = pd.Series(["a", "b"] * 50, name="g")
    sweep = threshold_sweep(np.array(["1", "0"] * 50), np.linspace(0, 0.9, 100), sf)
    steps = _figure(sweep, "g")["layout"]["sliders"][0]["steps"]
    assert "undefined" in steps[100]["args"][1]["annotations[1].text"]


def test_metrics_frame_is_the_long_table_behind_the_bars(sweep):
    table = sweep.metrics_frame("sex&band")
    grouping = sweep["sex&band"]
    assert len(table) == 101 * len(grouping.groups)
    row = table[(table["threshold"] == sweep.thresholds[40]) & (table["group"] == grouping.groups[2])]
    assert row["recall"].item() == pytest.approx(grouping.metrics["recall"][40, 2])
