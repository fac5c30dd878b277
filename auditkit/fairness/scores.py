"""Score-based group metrics: ROC AUC (Mann-Whitney with mid-ranks, equal to `roc_auc_score`) and calibration."""
from __future__ import annotations

import numpy as np

CALIBRATION_BINS = 10


def group_roc_auc(
    y_true: np.ndarray, y_score: np.ndarray, groups: np.ndarray, n_groups: int, score_order: np.ndarray
) -> np.ndarray:
    """ROC AUC per group; NaN for a group whose labels hold a single class (AUC is undefined there).

    `score_order` is `np.argsort(y_score, kind="stable")`, computed once and shared by every grouping.
    """
    g_sorted = groups[score_order]
    idx = score_order[np.argsort(g_sorted, kind="stable")]
    g, s, y = groups[idx], y_score[idx], y_true[idx]
    n = len(idx)
    sizes = np.bincount(g, minlength=n_groups)
    group_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    new_run = np.empty(n, dtype=bool)
    new_run[0] = True
    new_run[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    starts = np.flatnonzero(new_run)
    ends = np.append(starts[1:], n)
    run_rank = (starts + ends - 1) / 2.0 - group_start[g[starts]] + 1.0
    rank = np.repeat(run_rank, ends - starts)
    pos = np.bincount(g, weights=y, minlength=n_groups)
    neg = sizes - pos
    rank_sum = np.bincount(g, weights=rank * y, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = (rank_sum - pos * (pos + 1) / 2.0) / (pos * neg)
    return np.where((pos > 0) & (neg > 0), auc, np.nan)


def group_calibration(
    y_true: np.ndarray, y_score: np.ndarray, groups: np.ndarray, n_groups: int, n_bins: int = CALIBRATION_BINS
) -> list[list[dict[str, float]]]:
    """Per group, for each non-empty score bin of width 1/n_bins: count, mean score and observed positive rate.

    Bins are those of `sklearn.calibration.calibration_curve(strategy="uniform")`.
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], y_score)
    key = groups * n_bins + bins
    size = n_groups * n_bins
    total = np.bincount(key, minlength=size).reshape(n_groups, n_bins)
    score_sum = np.bincount(key, weights=y_score, minlength=size).reshape(n_groups, n_bins)
    true_sum = np.bincount(key, weights=y_true, minlength=size).reshape(n_groups, n_bins)
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
