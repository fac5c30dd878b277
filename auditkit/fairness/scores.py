"""Score-based group metrics: ROC AUC (Mann-Whitney with mid-ranks, equal to `roc_auc_score`) and calibration.

The scores are sorted once (`ScoreIndex`); each grouping then needs only a stable radix sort of its small integer
group codes along that order, so an extra grouping costs a few linear passes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CALIBRATION_BINS = 10


def _small_codes(groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Group codes in the narrowest integer type: numpy's stable sort is a radix sort for 8/16-bit integers."""
    return groups.astype(np.int16 if n_groups < 2**15 else np.int64, copy=False)


@dataclass(frozen=True)
class ScoreIndex:
    """Rows in score order, with tie runs and calibration bins, shared by every grouping."""

    order: np.ndarray  # argsort of the scores (order within ties is irrelevant: ties are ranked as runs)
    y_sorted: np.ndarray  # labels (bool) in score order
    tie_run: np.ndarray  # id of the run of equal scores, in score order
    bins: np.ndarray  # calibration bin of every row (row order)
    y_true: np.ndarray
    y_score: np.ndarray

    @classmethod
    def build(cls, y_true: np.ndarray, y_score: np.ndarray, n_bins: int = CALIBRATION_BINS) -> "ScoreIndex":
        order = np.argsort(y_score)
        s = y_score[order]
        tie_run = np.concatenate([[0], np.cumsum(s[1:] != s[:-1])])
        edges = np.linspace(0.0, 1.0, n_bins + 1)
        bins = np.searchsorted(edges[1:-1], y_score)
        return cls(order, y_true[order], tie_run, bins, y_true, y_score)


def group_roc_auc(index: ScoreIndex, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """ROC AUC per group; NaN for a group whose labels hold a single class (AUC is undefined there)."""
    g_sorted = _small_codes(groups, n_groups)[index.order]
    perm = np.argsort(g_sorted, kind="stable")
    g, run, y = g_sorted[perm], index.tie_run[perm], index.y_sorted[perm]
    n = len(g)
    sizes = np.bincount(g, minlength=n_groups)
    group_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    new_run = np.empty(n, dtype=bool)
    new_run[0] = True
    np.not_equal(g[1:], g[:-1], out=new_run[1:])
    new_run[1:] |= run[1:] != run[:-1]
    starts = np.flatnonzero(new_run)
    lengths = np.diff(np.append(starts, n))
    run_rank = starts + (lengths + 1) / 2.0 - group_start[g[starts]]
    pos_in_run = np.add.reduceat(y.astype(np.float64), starts)
    pos = np.bincount(g[starts], weights=pos_in_run, minlength=n_groups)
    rank_sum = np.bincount(g[starts], weights=run_rank * pos_in_run, minlength=n_groups)
    neg = sizes - pos
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)
    return np.where((pos > 0) & (neg > 0), auc, np.nan)


def group_calibration(
    index: ScoreIndex, groups: np.ndarray, n_groups: int, n_bins: int = CALIBRATION_BINS
) -> list[list[dict[str, float]]]:
    """Per group, for each non-empty score bin of width 1/n_bins: count, mean score and observed positive rate.

    Bins are those of `sklearn.calibration.calibration_curve(strategy="uniform")`.
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    key = groups * n_bins + index.bins
    size = n_groups * n_bins
    total = np.bincount(key, minlength=size).reshape(n_groups, n_bins)
    score_sum = np.bincount(key, weights=index.y_score, minlength=size).reshape(n_groups, n_bins)
    true_sum = np.bincount(key, weights=index.y_true, minlength=size).reshape(n_groups, n_bins)
    out = []
    for g in range(n_groups):
        rows = []
        for b in np.flatnonzero(total[g]):
            rows.append(
                {
                    "bin_low": round(float(edges[b]), 10),
                    "bin_high": round(float(edges[b + 1]), 10),
                    "count": int(total[g, b]),
                    "mean_score": float(score_sum[g, b] / total[g, b]),
                    "observed_rate": float(true_sum[g, b] / total[g, b]),
                }
            )
        out.append(rows)
    return out
