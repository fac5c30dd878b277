"""A cohort (a boolean row mask) turns an audit context into the same audit over those rows only."""
import numpy as np
import pytest

from auditkit.prepare import prepare
from auditkit.data.spec import AuditSpec
from auditkit.fairness import assess
from auditkit.fairness.errors_analysis import error_cohorts, error_heatmap, heatmap_cell_rows

from tests.builders import tabular_frame, tabular_model


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cohort")
    data = tmp / "d.csv"
    tabular_frame().to_csv(data, index=False)
    return prepare(data, AuditSpec(target="y", sensitive=("sex", "race")), model=tabular_model(tmp / "m.pt2"))


def test_subset_keeps_rows_predictions_and_scores_aligned(ctx):
    rows = ctx.frame["sex"].to_numpy() == ctx.frame["sex"].iloc[0]
    sub = ctx.subset(rows, "first sex")
    assert len(sub.frame) == rows.sum() == len(sub.y_true) == len(sub.y_pred) == sub.predictions.n
    np.testing.assert_array_equal(sub.y_score, ctx.y_score[rows])
    np.testing.assert_array_equal(sub.predictions.probabilities, ctx.predictions.probabilities[rows])
    np.testing.assert_array_equal(sub.features(), ctx.features()[rows])
    assert sub.cohort == "first sex" and sub.model is ctx.model
    assert sub.data_sha256 != ctx.data_sha256 != ctx.subset(~rows, "rest").data_sha256
    assert sub.data_sha256 == ctx.subset(rows, "again").data_sha256  # same rows, same cache key


def test_cohort_fairness_equals_assessing_its_rows(ctx):
    cohort = error_cohorts(ctx.frame[["race", "sex"]], ctx.y_true, ctx.y_pred, min_cohort_size=20).cohorts[0]
    sub = ctx.subset(cohort.rows, cohort.description)
    report = assess(sub.y_true, sub.y_pred, sub.sensitive_features[["race"]], sub.y_score, n_boot=0)
    direct = assess(ctx.y_true[cohort.rows], ctx.y_pred[cohort.rows],
                    ctx.sensitive_features[["race"]][cohort.rows], ctx.y_score[cohort.rows], n_boot=0)
    assert report.to_dict() == direct.to_dict()
    assert np.mean(sub.y_true != sub.y_pred) == pytest.approx(cohort.error_rate)


def test_heatmap_cell_rows_match_the_cell_counts(ctx):
    rate, count = error_heatmap(ctx.frame, "sex", "x1", ctx.y_true, ctx.y_pred)
    for a in count.index:
        for b in count.columns:
            rows = heatmap_cell_rows(ctx.frame, "sex", "x1", a, b)
            assert rows.sum() == count.loc[a, b]
            if rows.any():
                assert np.mean(ctx.y_true[rows] != ctx.y_pred[rows]) == pytest.approx(rate.loc[a, b])


def test_a_mask_of_the_wrong_length_is_refused(ctx):
    with pytest.raises(ValueError, match="cohort mask"):
        ctx.subset(np.ones(3, dtype=bool), "bad")
