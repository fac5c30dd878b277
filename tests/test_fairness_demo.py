"""On the built-in lending demo the audit finds the injected biases; on unbiased data it raises no alarm."""
from __future__ import annotations

import pytest

from models import lending
from auditkit.fairness import assess


@pytest.fixture(scope="module")
def biased():
    return lending.generate(8000, seed=1)


def test_injected_label_bias_is_found_with_its_size(biased):
    truth = lending.GROUND_TRUTH["labels"]
    y = biased[lending.TARGET].astype(str).to_numpy()
    report = assess(y, y, biased[list(lending.SENSITIVE)], n_boot=200)
    for attr in ("sex", "race"):
        g = report[attr]
        assert g.four_fifths.least_favoured == truth[attr]["unprivileged"]
        assert g.disparities["demographic_parity_difference"] == pytest.approx(
            truth[attr]["demographic_parity_difference"], abs=truth["tolerance"])
        assert g.four_fifths.passed is False and g.checks["demographic_parity_difference"].passed is False
        lo, hi = g.intervals.disparity["demographic_parity_difference"]
        assert lo > 0.1
    assert report["age_group"].disparities["demographic_parity_difference"] < 0.1


def test_demo_model_inherits_the_bias_in_the_expected_direction(biased):
    truth = lending.GROUND_TRUTH["model"]
    model = lending.train(biased, epochs=8)
    pred = lending.predict(model, biased).astype(str)
    report = assess(biased[lending.TARGET].astype(str).to_numpy(), pred, biased[["sex", "race"]], n_boot=0)
    for attr in ("sex", "race"):
        g = report[attr]
        assert g.four_fifths.least_favoured == truth[attr]["least_favoured"]
        assert g.disparities["demographic_parity_difference"] >= truth[attr]["demographic_parity_difference_min"]
    assert not report.passed


def test_model_on_unbiased_data_raises_no_alarm():
    fair = lending.generate(8000, seed=2, unbiased=True)
    model = lending.train(fair, epochs=8)
    pred = lending.predict(model, fair).astype(str)
    report = assess(fair[lending.TARGET].astype(str).to_numpy(), pred, fair[["sex", "race"]], n_boot=0,
                    intersections=False)
    for g in report.groupings:
        assert all(c.passed for c in g.checks.values()), (g.name, {k: c.value for k, c in g.checks.items()})
        assert g.four_fifths.passed
