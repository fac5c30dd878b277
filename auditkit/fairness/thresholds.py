"""Threshold analysis: every group metric and disparity at every threshold of a grid, in one vectorized pass.

A row is predicted positive at threshold t when its score is >= t. Each row's score is placed among the sorted
thresholds once (`searchsorted`); one `bincount` over (cell, label, threshold slot) and a reverse cumulative sum
then give every group's confusion counts at every threshold.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.fairness import validation
from auditkit.fairness.counts import ConfusionCounts, build_partition, group_cells
from auditkit.fairness.metrics import disparities, group_metrics

DEFAULT_GRID = np.round(np.linspace(0.0, 1.0, 101), 10)


@dataclass(frozen=True)
class SweepGrouping:
    """One attribute or intersection: metrics (n_thresholds, n_groups) and disparities (n_thresholds,)."""

    name: str
    attributes: tuple[str, ...]
    groups: tuple[str, ...]
    metrics: dict[str, np.ndarray]
    disparities: dict[str, np.ndarray]

    def at(self, index: int) -> pd.DataFrame:
        """Group metrics at one threshold index, one row per group."""
        return pd.DataFrame({k: v[index] for k, v in self.metrics.items()}, index=pd.Index(self.groups, name=self.name))


@dataclass(frozen=True)
class ThresholdSweep:
    """The result of `threshold_sweep`."""

    thresholds: np.ndarray
    groupings: tuple[SweepGrouping, ...]

    def __getitem__(self, name: str) -> SweepGrouping:
        for g in self.groupings:
            if g.name == name:
                return g
        raise KeyError(f"no grouping {name!r}; available: {', '.join(g.name for g in self.groupings)}")

    def index_of(self, threshold: float) -> int:
        """Index of the grid threshold nearest to `threshold`."""
        return int(np.argmin(np.abs(self.thresholds - threshold)))

    def disparity_frame(self, name: str) -> pd.DataFrame:
        """Disparities of one grouping, one row per threshold."""
        return pd.DataFrame(self[name].disparities, index=pd.Index(self.thresholds, name="threshold"))

    def metrics_frame(self, name: str) -> pd.DataFrame:
        """Group metrics of one grouping, one row per (threshold, group)."""
        grouping = self[name]
        shape = (self.thresholds.size, len(grouping.groups))
        columns = {"threshold": np.repeat(self.thresholds, shape[1]), "group": np.tile(grouping.groups, shape[0])}
        return pd.DataFrame(columns | {k: v.reshape(-1) for k, v in grouping.metrics.items()})


def threshold_sweep(
    y_true: Any,
    y_score: Any,
    sensitive_features: Any,
    *,
    pos_label: str = "1",
    thresholds: Any = None,
    intersections: bool = True,
) -> ThresholdSweep:
    """Every group metric and disparity at each threshold (default: 0, 0.01, ..., 1)."""
    pos_label = str(pos_label)
    grid = DEFAULT_GRID if thresholds is None else np.asarray(thresholds, dtype=np.float64).ravel()
    validation.check_setting(
        "thresholds", list(grid[:5]), grid.size > 0 and bool(np.all(np.diff(grid) > 0)), "a non-empty increasing grid"
    )
    yt = validation.true_labels(y_true, pos_label)
    scores = validation.scores(y_score, len(yt))
    frame = validation.sensitive_frame(sensitive_features, len(yt))
    partition = build_partition(frame, intersections=intersections)
    n_slots = grid.size + 1
    slot = np.searchsorted(grid, scores, side="right")  # thresholds <= score: positive at those indices
    index = (partition.row_cell * 2 + yt) * n_slots + slot
    counts = np.bincount(index, minlength=partition.n_cells * 2 * n_slots).reshape(partition.n_cells, 2, n_slots)
    at_or_above = np.cumsum(counts[..., ::-1], axis=-1)[..., ::-1]  # rows with slot >= j
    predicted = at_or_above[..., 1:]  # positive at threshold k: slot > k
    totals = counts.sum(axis=-1, keepdims=True)
    tp, fp = predicted[:, 1], predicted[:, 0]
    fn, tn = totals[:, 1] - tp, totals[:, 0] - fp
    cells = np.stack([tn, fp, fn, tp], axis=-1).transpose(1, 0, 2)  # (T, cells, 4)
    out = []
    for grouping in partition.groupings:
        metrics = group_metrics(ConfusionCounts.from_cells(group_cells(cells, grouping)))
        out.append(SweepGrouping(grouping.name, grouping.attributes, grouping.groups, metrics, disparities(metrics)))
    return ThresholdSweep(grid, tuple(out))
