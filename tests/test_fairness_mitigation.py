"""Mitigation: the reweighing formula, ThresholdOptimizer and reductions reduce the injected gap, the Pareto
front, and a CSV export that spreadsheets cannot run as formulas."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from auditkit.errors import SettingsError
from auditkit.export import neutralise, safe_csv
from auditkit.fairness.mitigation import pareto_front, reduction, threshold_optimizer
from auditkit.fairness.reweighing import balanced_resample, reweighing_weights


def _biased(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    sex = rng.choice(["F", "M"], n)
    x = rng.normal(size=(n, 3))
    x[:, 0] += (sex == "M") * 1.0
    y = np.where(x[:, 0] + rng.normal(size=n) * 0.5 > 0.5, "1", "0")
    score = 1 / (1 + np.exp(-(2 * x[:, 0] - 1)))
    return x, y, score, pd.Series(sex, name="sex")


def test_reweighing_matches_the_kamiran_calders_formula():
    g = pd.Series(["a"] * 6 + ["b"] * 4, name="g")
    y = np.array(["1", "1", "1", "1", "0", "0", "1", "0", "0", "0"])
    w = reweighing_weights(y, g)
    # n=10, n_a=6, n_b=4, n_pos=5, n_neg=5; w(g,y) = n_g n_y / (n n_gy)
    expected = {("a", "1"): 6 * 5 / (10 * 4), ("a", "0"): 6 * 5 / (10 * 2),
                ("b", "1"): 4 * 5 / (10 * 1), ("b", "0"): 4 * 5 / (10 * 3)}
    np.testing.assert_allclose(w, [expected[(gi, yi)] for gi, yi in zip(g, y)], rtol=1e-12)
    assert w.sum() == pytest.approx(len(y))
    # weighted positive rate is the same in every group
    for grp in ("a", "b"):
        m = (g == grp).to_numpy()
        assert np.sum(w[m] * (y[m] == "1")) / np.sum(w[m]) == pytest.approx(0.5)


def test_balanced_resample_makes_label_independent_of_group():
    _, y, _, sex = _biased(4000, 1)
    idx = balanced_resample(y, sex, seed=0)
    rates = pd.Series(y[idx] == "1").groupby(sex.to_numpy()[idx]).mean()
    assert abs(rates["F"] - rates["M"]) < 0.05
    assert abs(np.mean(y == "1") - rates.mean()) < 0.05


@pytest.mark.parametrize("constraint", ["demographic_parity", "equalized_odds", "true_positive_rate_parity"])
def test_threshold_optimizer_closes_the_constrained_gap(constraint):
    _, y, score, sex = _biased()
    result = threshold_optimizer(y, score, sex, constraint=constraint)
    name = {"demographic_parity": "demographic_parity_difference", "equalized_odds": "equalized_odds_difference",
            "true_positive_rate_parity": "equal_opportunity_difference"}[constraint]
    before, after = result.before["sex"].disparities[name], result.after["sex"].disparities[name]
    assert after < before and after < 0.06
    table = result.comparison()
    assert table.iloc[0]["metric"] == "accuracy"
    assert set(result.predictions) <= {"0", "1"}


def test_reductions_reduce_demographic_parity_and_give_a_front():
    x, y, _, sex = _biased(600, 2)
    result = reduction(LogisticRegression(), x, y, sex, method="exponentiated_gradient")
    d = "demographic_parity_difference"
    assert result.after["sex"].disparities[d] < result.before["sex"].disparities[d] - 0.1
    front = result.front
    assert front["pareto"].any() and set(front.columns) == {"predictor", "accuracy", d, "pareto"}
    grid = reduction(LogisticRegression(), x, y, sex, method="grid_search", grid_size=5)
    assert len(grid.front) == 5
    out = grid.to_dict()
    assert out["method"] == "grid_search" and "pareto_front" in out and "sex" in out["after"]


def test_pareto_front():
    acc = np.array([0.9, 0.8, 0.85, 0.7, 0.9])
    disp = np.array([0.3, 0.1, 0.2, 0.15, 0.35])
    np.testing.assert_array_equal(pareto_front(acc, disp), [True, True, True, False, False])


def test_csv_export_neutralises_formulas():
    for bad in ("=1+1", "+cmd", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise(bad) == "'" + bad
    assert neutralise("ok") == "ok" and neutralise(-2) == -2
    csv = safe_csv(pd.DataFrame({"=group": ["=HYPERLINK(\"x\")", "a"], "score": [-1.5, 2.0]})).decode()
    back = pd.read_csv(io.StringIO(csv))
    assert list(back.columns) == ["'=group", "score"]
    assert back.iloc[0, 0] == "'=HYPERLINK(\"x\")" and back.iloc[0, 1] == -1.5


def test_mitigated_predictions_csv_and_bad_constraint():
    _, y, score, sex = _biased(300, 3)
    result = threshold_optimizer(y, score, sex)
    frame = pd.read_csv(io.BytesIO(safe_csv(result.predictions_frame(y, np.where(score >= 0.5, "1", "0")))), dtype=str)
    assert list(frame.columns) == ["row", "y_true", "y_pred", "y_pred_mitigated"] and len(frame) == 300
    with pytest.raises(SettingsError, match="constraint must be one of"):
        threshold_optimizer(y, score, sex, constraint="parity")


def test_balanced_resampling_and_adversarial_retraining():
    x, y, _, sex = _biased(800, 4)
    resampled = reduction(LogisticRegression(), x, y, sex, method="balanced_resampling")
    d = "demographic_parity_difference"
    assert resampled.after["sex"].disparities[d] < resampled.before["sex"].disparities[d]
    adversarial = reduction(LogisticRegression(), x, y, sex, method="adversarial", alpha=3.0)
    assert adversarial.after["sex"].disparities[d] < adversarial.before["sex"].disparities[d] - 0.03
    with pytest.raises(SettingsError, match="adversarial classifier"):
        reduction(LogisticRegression(), x, y, sex, method="adversarial", constraint="true_positive_rate_parity")


def _audit(*, scores: bool = True, features: bool = True, tmp_path=None):
    from auditkit.config import Settings
    from auditkit.context import AuditContext
    from auditkit.data.spec import AuditSpec

    x, y, score, sex = _biased(600, 2)
    frame = pd.DataFrame(x, columns=["a", "b", "c"]).assign(sex=sex, y=y)
    spec = AuditSpec(target="y", sensitive=("sex",), features=("a", "b", "c") if features else ())
    return AuditContext(spec, frame, "d" * 64, y, np.where(score >= 0.5, "1", "0"), score if scores else None,
                        ("0", "1"), Settings(home=tmp_path))


def test_methods_offered_follow_what_the_audit_has():
    from auditkit.fairness.mitigation import METHOD_TITLES, RETRAINING, applicable_methods

    retrain = ("exponentiated_gradient", "grid_search", "reweighing", "balanced_resampling", "adversarial")
    assert tuple(RETRAINING) == retrain
    assert applicable_methods(has_scores=True, has_features=True) == ("threshold_optimizer", *retrain)
    assert applicable_methods(has_scores=False, has_features=True) == retrain
    assert applicable_methods(has_scores=True, has_features=False) == ("threshold_optimizer",)
    assert applicable_methods(has_scores=False, has_features=False) == ()
    assert set(METHOD_TITLES) == set(applicable_methods(has_scores=True, has_features=True))


def test_mitigate_an_audit_runs_the_chosen_method_with_the_default_estimator(tmp_path):
    from auditkit.fairness.mitigation import mitigate

    ctx = _audit(tmp_path=tmp_path)
    thresholds = mitigate(ctx, "threshold_optimizer", constraint="equalized_odds")
    want = threshold_optimizer(ctx.y_true, ctx.y_score, ctx.sensitive_features, constraint="equalized_odds",
                               y_pred=ctx.y_pred)
    np.testing.assert_array_equal(thresholds.predictions, want.predictions)
    reweighed = mitigate(ctx, "reweighing")
    want = reduction(LogisticRegression(max_iter=1000), ctx.features(), ctx.y_true, ctx.sensitive_features,
                     method="reweighing")
    np.testing.assert_array_equal(reweighed.predictions, want.predictions)
    assert reweighed.method == "reweighing" and reweighed.constraint == "demographic_parity"


def test_mitigate_names_the_methods_an_audit_can_run(tmp_path):
    from auditkit.fairness.mitigation import mitigate

    with pytest.raises(SettingsError) as no_scores:
        mitigate(_audit(scores=False, tmp_path=tmp_path), "threshold_optimizer")
    assert str(no_scores.value) == ("method must be one of exponentiated_gradient, grid_search, reweighing, "
                                    "balanced_resampling, adversarial; got 'threshold_optimizer'.")
    with pytest.raises(SettingsError) as nothing:
        mitigate(_audit(scores=False, features=False, tmp_path=tmp_path), "reweighing")
    assert str(nothing.value) == ("method must be one this audit can run: it has neither scores (for group "
                                  "thresholds) nor feature columns (to retrain a model); got 'reweighing'.")
