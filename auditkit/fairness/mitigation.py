"""Mitigation with before/after evidence: fairlearn's ThresholdOptimizer (post-processing, any model with scores);
for a retrainable scikit-learn estimator, ExponentiatedGradient / GridSearch (reductions), reweighing and
group-balanced resampling (pre-processing) and fairlearn's adversarial classifier (in-processing); and the
accuracy-vs-disparity Pareto front.

Mitigators are fitted and evaluated on the audited rows (in-sample), so the "after" numbers are optimistic;
confirm them on held-out data before deploying a mitigated model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from auditkit.fairness import validation
from auditkit.fairness.assessment import assess
from auditkit.fairness.metrics import DISPARITIES
from auditkit.fairness.report import FairnessReport
from auditkit.fairness.reweighing import balanced_resample, reweighing_weights

Constraint = Literal["demographic_parity", "equalized_odds", "true_positive_rate_parity"]
CONSTRAINTS: tuple[str, ...] = ("demographic_parity", "equalized_odds", "true_positive_rate_parity")
FRONT_DISPARITY = {
    "demographic_parity": "demographic_parity_difference",
    "equalized_odds": "equalized_odds_difference",
    "true_positive_rate_parity": "equal_opportunity_difference",
}
UNKNOWN_CONSTRAINT = "Unknown constraint {got!r}; choose one of: {choices}."
NEGATIVE_LABEL = "negative"


class _ScoreAsPrediction(BaseEstimator, ClassifierMixin):
    """Hands a precomputed score column (X[:, 0]) to ThresholdOptimizer as a prefit model's output."""

    def fit(self, X: Any, y: Any = None) -> "_ScoreAsPrediction":
        self.classes_ = np.array([0, 1])
        return self

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(X, dtype=np.float64)[:, 0]


@dataclass(frozen=True)
class MitigationResult:
    """Mitigated predictions (labels as strings) with the assessment before and after."""

    method: str
    constraint: str
    predictions: np.ndarray
    before: FairnessReport
    after: FairnessReport
    front: pd.DataFrame | None = None

    def comparison(self) -> pd.DataFrame:
        """One row per grouping and number: accuracy and every disparity before and after."""
        rows = []
        for g_before in self.before.groupings:
            g_after = self.after[g_before.name]
            for name in DISPARITIES:
                rows.append((g_before.name, name, g_before.disparities[name], g_after.disparities[name]))
        acc_before, acc_after = _overall_accuracy(self.before), _overall_accuracy(self.after)
        rows.insert(0, ("all rows", "accuracy", acc_before, acc_after))
        return pd.DataFrame(rows, columns=["grouping", "metric", "before", "after"])

    def predictions_frame(self, y_true: Any, y_pred: Any, row_id: Any = None) -> pd.DataFrame:
        """Row, true label, original and mitigated prediction (export with `auditkit.export.safe_csv`/`safe_xlsx`)."""
        return pd.DataFrame({
            "row": np.arange(len(self.predictions)) if row_id is None else np.asarray(row_id),
            "y_true": np.asarray(y_true).astype(str),
            "y_pred": np.asarray(y_pred).astype(str),
            "y_pred_mitigated": self.predictions,
        })

    def to_dict(self) -> dict:
        table = self.comparison()
        out = {"method": self.method, "constraint": self.constraint, "before": {}, "after": {}}
        for row in table.itertuples():
            for side in ("before", "after"):
                value = getattr(row, side)
                out[side].setdefault(row.grouping, {})[row.metric] = None if np.isnan(value) else float(value)
        if self.front is not None:
            out["pareto_front"] = self.front[self.front["pareto"]].drop(columns="pareto").to_dict(orient="records")
        return out


def _overall_accuracy(report: FairnessReport) -> float:
    first = report.groupings[0]
    return float(np.sum(first.metrics["accuracy"] * first.metrics["count"]) / np.sum(first.metrics["count"]))


def _check_constraint(constraint: str) -> None:
    validation.check_setting("constraint", constraint, constraint in CONSTRAINTS, f"one of {', '.join(CONSTRAINTS)}")


def _labels(mask: np.ndarray, pos_label: str, negative: str) -> np.ndarray:
    return np.where(mask, pos_label, negative)


def _negative_label(y_true: Any, pos_label: str) -> str:
    values = {str(v) for v in pd.unique(np.asarray(y_true).ravel())} - {pos_label}
    return values.pop() if values else NEGATIVE_LABEL


def pareto_front(accuracy: np.ndarray, disparity: np.ndarray) -> np.ndarray:
    """Mask of points no other point beats on both axes (higher accuracy, lower disparity)."""
    acc, disp = np.asarray(accuracy, dtype=float), np.asarray(disparity, dtype=float)
    better_or_equal = (acc[None, :] >= acc[:, None]) & (disp[None, :] <= disp[:, None])
    strictly = (acc[None, :] > acc[:, None]) | (disp[None, :] < disp[:, None])
    return ~np.any(better_or_equal & strictly, axis=1)


def _sensitive_for_fairlearn(frame: pd.DataFrame) -> pd.Series:
    """Several attributes as one combined group label, the form fairlearn's mitigators take."""
    return frame.astype(str).agg("&".join, axis=1) if frame.shape[1] > 1 else frame.iloc[:, 0].astype(str)


def threshold_optimizer(
    y_true: Any,
    y_score: Any,
    sensitive_features: Any,
    *,
    constraint: Constraint = "demographic_parity",
    y_pred: Any = None,
    pos_label: str = "1",
    seed: int = 0,
    grid_size: int = 1000,
) -> MitigationResult:
    """Group-specific (randomised) thresholds on the scores that satisfy `constraint` while maximising accuracy.

    `y_pred` is the model's own prediction for the "before" view (default: score >= 0.5).
    """
    from fairlearn.postprocessing import ThresholdOptimizer

    _check_constraint(constraint)
    pos_label = str(pos_label)
    yt = validation.true_labels(y_true, pos_label)
    scores = validation.scores(y_score, len(yt))
    frame = validation.sensitive_frame(sensitive_features, len(yt))
    negative = _negative_label(y_true, pos_label)
    before_pred = _labels(scores >= 0.5, pos_label, negative) if y_pred is None else np.asarray(y_pred).astype(str)
    X = scores.reshape(-1, 1)
    groups = _sensitive_for_fairlearn(frame)
    optimizer = ThresholdOptimizer(estimator=_ScoreAsPrediction().fit(X), constraints=constraint, prefit=True,
                                   predict_method="predict", grid_size=grid_size)
    optimizer.fit(X, yt.astype(int), sensitive_features=groups)
    mitigated = optimizer.predict(X, sensitive_features=groups, random_state=seed).astype(bool)
    after_pred = _labels(mitigated, pos_label, negative)
    return MitigationResult(
        method="threshold_optimizer",
        constraint=constraint,
        predictions=after_pred,
        before=assess(y_true, before_pred, frame, pos_label=pos_label, n_boot=0),
        after=assess(y_true, after_pred, frame, pos_label=pos_label, n_boot=0),
    )


def _moment(constraint: str):
    from fairlearn.reductions import DemographicParity, EqualizedOdds, TruePositiveRateParity

    return {"demographic_parity": DemographicParity, "equalized_odds": EqualizedOdds,
            "true_positive_rate_parity": TruePositiveRateParity}[constraint]()


def _front(predictors: list, X: np.ndarray, yt: np.ndarray, frame: pd.DataFrame, constraint: str,
           pos_label: str, negative: str) -> pd.DataFrame:
    disparity_name = FRONT_DISPARITY[constraint]
    rows = []
    for i, predictor in enumerate(predictors):
        pred = _labels(np.asarray(predictor.predict(X)).astype(int) == 1, pos_label, negative)
        report = assess(_labels(yt, pos_label, negative), pred, frame, pos_label=pos_label, n_boot=0,
                        intersections=False)
        worst = max(g.disparities[disparity_name] for g in report.groupings)
        rows.append((i, _overall_accuracy(report), worst))
    front = pd.DataFrame(rows, columns=["predictor", "accuracy", disparity_name])
    front["pareto"] = pareto_front(front["accuracy"], front[disparity_name])
    return front


@dataclass(frozen=True)
class _Training:
    """What a retraining method sees: features, 0/1 labels, the combined group per row, and the row frame."""

    estimator: BaseEstimator
    X: np.ndarray
    y01: np.ndarray
    groups: pd.Series
    frame: pd.DataFrame
    y_true: Any
    constraint: str
    pos_label: str
    negative: str
    grid_size: int
    eps: float
    epochs: int
    alpha: float
    seed: int


def _reweighing(t: _Training) -> tuple[np.ndarray, pd.DataFrame | None]:
    weights = reweighing_weights(t.y_true, t.frame, pos_label=t.pos_label)
    return clone(t.estimator).fit(t.X, t.y01, sample_weight=weights).predict(t.X) == 1, None


def _resampling(t: _Training) -> tuple[np.ndarray, pd.DataFrame | None]:
    idx = balanced_resample(t.y_true, t.frame, pos_label=t.pos_label, seed=t.seed)
    return clone(t.estimator).fit(t.X[idx], t.y01[idx]).predict(t.X) == 1, None


def _exponentiated_gradient(t: _Training) -> tuple[np.ndarray, pd.DataFrame | None]:
    from fairlearn.reductions import ExponentiatedGradient

    model = ExponentiatedGradient(clone(t.estimator), _moment(t.constraint), eps=t.eps)
    model.fit(t.X, t.y01, sensitive_features=t.groups)
    front = _front(list(model.predictors_), t.X, t.y01.astype(bool), t.frame, t.constraint, t.pos_label, t.negative)
    return model.predict(t.X, random_state=t.seed) == 1, front


def _grid_search(t: _Training) -> tuple[np.ndarray, pd.DataFrame | None]:
    from fairlearn.reductions import GridSearch

    model = GridSearch(clone(t.estimator), _moment(t.constraint), grid_size=t.grid_size)
    model.fit(t.X, t.y01, sensitive_features=t.groups)
    front = _front(list(model.predictors_), t.X, t.y01.astype(bool), t.frame, t.constraint, t.pos_label, t.negative)
    return model.predict(t.X) == 1, front


def _adversarial_model(t: _Training, alpha: float):
    from fairlearn.adversarial import AdversarialFairnessClassifier

    return AdversarialFairnessClassifier(backend="torch", predictor_model=[32, "leaky_relu"],
                                         adversary_model=[8, "leaky_relu"], constraints=t.constraint, alpha=alpha,
                                         learning_rate=0.01, epochs=t.epochs, batch_size=64, shuffle=True,
                                         random_state=t.seed)


def _standardised(X: np.ndarray) -> np.ndarray:
    return (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)


def _adversarial(t: _Training) -> tuple[np.ndarray, pd.DataFrame | None]:
    validation.check_setting("constraint", t.constraint, t.constraint in ADVERSARIAL_CONSTRAINTS,
                             "demographic_parity or equalized_odds for the adversarial classifier")
    X = _standardised(t.X)
    model = _adversarial_model(t, alpha=t.alpha).fit(X, t.y01, sensitive_features=t.groups)
    return np.asarray(model.predict(X)).astype(int) == 1, None


def _adversarial_baseline(t: _Training) -> np.ndarray:
    """The same network trained without the adversary (alpha=0): the fair comparison for in-processing."""
    X = _standardised(t.X)
    return np.asarray(_adversarial_model(t, alpha=0.0).fit(X, t.y01, sensitive_features=t.groups).predict(X)) == 1


RETRAINING = {
    "exponentiated_gradient": _exponentiated_gradient,
    "grid_search": _grid_search,
    "reweighing": _reweighing,
    "balanced_resampling": _resampling,
    "adversarial": _adversarial,
}
ADVERSARIAL_CONSTRAINTS = ("demographic_parity", "equalized_odds")
Method = Literal["exponentiated_gradient", "grid_search", "reweighing", "balanced_resampling", "adversarial"]
POST_PROCESSING = "threshold_optimizer"
METHOD_TITLES = {POST_PROCESSING: "Group thresholds on the scores (post-processing)",
                 "exponentiated_gradient": "Retrain with Exponentiated Gradient (reductions)",
                 "grid_search": "Retrain with Grid Search (reductions)",
                 "reweighing": "Retrain with reweighed rows (pre-processing)",
                 "balanced_resampling": "Retrain on group-balanced resampled rows (pre-processing)",
                 "adversarial": "Train an adversarial classifier (in-processing)"}


def reduction(
    estimator: BaseEstimator,
    X: Any,
    y_true: Any,
    sensitive_features: Any,
    *,
    method: Method = "exponentiated_gradient",
    constraint: Constraint = "demographic_parity",
    pos_label: str = "1",
    grid_size: int = 11,
    eps: float = 0.01,
    epochs: int = 20,
    alpha: float = 3.0,
    seed: int = 0,
) -> MitigationResult:
    """Retrain a copy of a scikit-learn `estimator` on features `X` with a mitigation `method`.

    Reductions (`exponentiated_gradient`, `grid_search`) also give the accuracy-vs-disparity Pareto front of their
    candidate models; pre-processing retrains on reweighed (`reweighing`) or group-balanced resampled rows
    (`balanced_resampling`); `adversarial` trains fairlearn's adversarial classifier (a small network for `epochs`,
    adversary weight `alpha`; its "before" is the same network trained without the adversary). Otherwise "before"
    is `estimator` trained without mitigation.
    """
    _check_constraint(constraint)
    validation.check_setting("method", method, method in RETRAINING, f"one of {', '.join(RETRAINING)}")
    pos_label = str(pos_label)
    yt = validation.true_labels(y_true, pos_label)
    frame = validation.sensitive_frame(sensitive_features, len(yt))
    negative = _negative_label(y_true, pos_label)
    training = _Training(estimator, np.asarray(X, dtype=np.float64), yt.astype(int), _sensitive_for_fairlearn(frame),
                         frame, y_true, constraint, pos_label, negative, grid_size, eps, epochs, alpha, seed)
    mitigated, front = RETRAINING[method](training)
    if method == "adversarial":
        baseline = _adversarial_baseline(training)
    else:
        baseline = clone(estimator).fit(training.X, training.y01).predict(training.X) == 1
    labels = _labels(yt, pos_label, negative)
    after_pred = _labels(mitigated, pos_label, negative)
    return MitigationResult(
        method=method,
        constraint=constraint,
        predictions=after_pred,
        before=assess(labels, _labels(baseline, pos_label, negative), frame, pos_label=pos_label, n_boot=0),
        after=assess(labels, after_pred, frame, pos_label=pos_label, n_boot=0),
        front=front,
    )


def applicable_methods(*, has_scores: bool, has_features: bool) -> tuple[str, ...]:
    """The mitigation methods an audit can run, in the order to offer them: group thresholds need scores,
    retraining needs feature columns."""
    return ((POST_PROCESSING,) if has_scores else ()) + (tuple(RETRAINING) if has_features else ())


def retraining_estimator() -> BaseEstimator:
    """The model the retraining methods fit on an audit's features: a logistic regression (the adversarial
    classifier trains its own small network instead)."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(max_iter=1000)


def mitigate(ctx: Any, method: str, *, constraint: Constraint = "demographic_parity",
             sensitive_features: Any = None) -> MitigationResult:
    """Mitigate an audit's predictions with `method` (one of `applicable_methods`): group thresholds on its scores,
    or `retraining_estimator()` retrained on its features. `sensitive_features`: the columns to equalise over
    (default: every sensitive column)."""
    sensitive = ctx.sensitive_features if sensitive_features is None else sensitive_features
    choices = applicable_methods(has_scores=ctx.y_score is not None, has_features=bool(ctx.spec.features))
    validation.check_setting("method", method, method in choices,
                             f"one of {', '.join(choices)}" if choices else "one this audit can run: it has neither "
                             "scores (for group thresholds) nor feature columns (to retrain a model)")
    if method == POST_PROCESSING:
        return threshold_optimizer(ctx.y_true, ctx.y_score, sensitive, constraint=constraint, y_pred=ctx.y_pred,
                                   pos_label=ctx.positive_label)
    return reduction(retraining_estimator(), ctx.features(), ctx.y_true, sensitive, method=method,  # type: ignore[arg-type]
                     constraint=constraint, pos_label=ctx.positive_label)
