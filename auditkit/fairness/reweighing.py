"""Pre-processing for retrainable models: reweighing (Kamiran & Calders, 2012) and group-balanced resampling."""
from __future__ import annotations

from typing import Any

import numpy as np

from auditkit.fairness import validation
from auditkit.fairness.counts import build_partition


def _cells(y_true: Any, sensitive_features: Any, pos_label: str) -> tuple[np.ndarray, np.ndarray]:
    yt = validation.true_labels(y_true, str(pos_label))
    frame = validation.sensitive_frame(sensitive_features, len(yt))
    partition = build_partition(frame, intersections=False)
    return partition.row_cell * 2 + yt, np.bincount(partition.row_cell * 2 + yt, minlength=partition.n_cells * 2)


def reweighing_weights(y_true: Any, sensitive_features: Any, *, pos_label: str = "1") -> np.ndarray:
    """Per-row weight w(g, y) = P(g) P(y) / P(g, y) = n_g n_y / (n n_gy), one weight per group-and-label cell.

    Under these weights the label is independent of the group (the cross of all attributes); weights average 1.
    """
    cell, counts = _cells(y_true, sensitive_features, pos_label)
    n = counts.sum()
    by_cell = counts.reshape(-1, 2)
    n_group = by_cell.sum(axis=1, keepdims=True)
    n_label = by_cell.sum(axis=0, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(by_cell > 0, n_group * n_label / (n * by_cell), 0.0).ravel()
    return weights[cell]


def balanced_resample(
    y_true: Any, sensitive_features: Any, *, pos_label: str = "1", seed: int = 0
) -> np.ndarray:
    """Row indices of a resample (same size, with replacement) in which each group-and-label cell has the size the
    reweighing weights give it: the label is independent of the group in expectation."""
    weights = reweighing_weights(y_true, sensitive_features, pos_label=pos_label)
    rng = np.random.default_rng(seed)
    return rng.choice(len(weights), size=len(weights), replace=True, p=weights / weights.sum())
