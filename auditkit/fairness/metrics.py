"""Group metrics and disparities as functions of confusion counts.

Every function takes arrays of shape (..., n_groups), so the same code serves the data, bootstrap replicates
(B, n_groups) and threshold sweeps (T, n_groups).

Undefined values follow scikit-learn / fairlearn: a rate whose denominator is zero is 0.0 (precision with no
predicted positives as `precision_score(zero_division=0)`, recall / false-negative rate with no positive labels,
false-positive rate with no negative labels, as fairlearn's confusion-matrix rates). Balanced accuracy averages the
recall of the classes present in the group's labels, as `balanced_accuracy_score`. A group that is empty (possible
only in a bootstrap replicate) gets NaN and is left out of that replicate's disparities.
"""
from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from auditkit.fairness.counts import ConfusionCounts


def _rate(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, num / safe, 0.0)


def _balanced_accuracy(c: ConfusionCounts) -> np.ndarray:
    pos, neg = c.tp + c.fn, c.tn + c.fp
    tpr, tnr = _rate(c.tp, pos), _rate(c.tn, neg)
    present = (pos > 0).astype(float) + (neg > 0)
    return _rate(np.where(pos > 0, tpr, 0.0) + np.where(neg > 0, tnr, 0.0), present)


GROUP_METRICS: dict[str, Callable[[ConfusionCounts], np.ndarray]] = {
    "count": lambda c: c.count,
    "selection_rate": lambda c: _rate(c.tp + c.fp, c.count),
    "accuracy": lambda c: _rate(c.tp + c.tn, c.count),
    "precision": lambda c: _rate(c.tp, c.tp + c.fp),
    "recall": lambda c: _rate(c.tp, c.tp + c.fn),
    "false_positive_rate": lambda c: _rate(c.fp, c.fp + c.tn),
    "false_negative_rate": lambda c: _rate(c.fn, c.fn + c.tp),
    "balanced_accuracy": _balanced_accuracy,
}

DISPARITIES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
)


def group_metrics(counts: ConfusionCounts) -> dict[str, np.ndarray]:
    """Every group metric, each an array (..., n_groups); NaN for empty groups."""
    empty = counts.count == 0
    out = {}
    for name, fn in GROUP_METRICS.items():
        values = fn(counts)
        out[name] = values if name == "count" else np.where(empty, np.nan, values)
    return out


def _spread(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hi, lo = np.nanmax(values, axis=-1), np.nanmin(values, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return hi - lo, lo / hi, hi


def disparities(metrics: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Between-group disparities as fairlearn defines them (method="between_groups", agg="worst_case").

    Differences are max - min over groups, ratios min / max (NaN when max is 0, as fairlearn); equalized odds
    takes the larger difference / smaller ratio of the true- and false-positive rates.
    """
    sel_d, sel_r, _ = _spread(metrics["selection_rate"])
    tpr_d, tpr_r, _ = _spread(metrics["recall"])
    fpr_d, fpr_r, _ = _spread(metrics["false_positive_rate"])
    return {
        "demographic_parity_difference": sel_d,
        "demographic_parity_ratio": sel_r,
        # Python's max/min over (tpr, fpr), as fairlearn applies them, keep the first value unless the second wins
        "equalized_odds_difference": np.where(fpr_d > tpr_d, fpr_d, tpr_d),
        "equalized_odds_ratio": np.where(fpr_r < tpr_r, fpr_r, tpr_r),
        "equal_opportunity_difference": tpr_d,
        "equal_opportunity_ratio": tpr_r,
    }
