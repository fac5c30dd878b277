"""`assess`: every group metric and disparity, per attribute and intersection, from one pass over the rows."""
from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from auditkit.errors import DataValidationError
from auditkit.fairness import validation
from auditkit.fairness.bootstrap import bootstrap_intervals
from auditkit.fairness.counts import (
    ConfusionCounts,
    Grouping,
    Partition,
    build_partition,
    cell_confusion,
    group_cells,
)
from auditkit.fairness.metrics import DISPARITIES, disparities, group_metrics
from auditkit.fairness.policy import DEFAULT_THRESHOLDS, FOUR_FIFTHS, four_fifths_sentence, judge
from auditkit.fairness.report import FairnessReport, FourFifths, GroupingReport
from auditkit.fairness.scores import ScoreIndex, group_calibration, group_roc_auc

SMALL_GROUP = (
    "group {group!r} has {count} rows (fewer than {minimum}): its metrics are uncertain; "
    "read them with their confidence intervals."
)
NO_POSITIVES = (
    "group {group!r} has no positive labels: recall and false_negative_rate are reported as 0 "
    "and roc_auc is undefined."
)
NO_NEGATIVES = "group {group!r} has no negative labels: false_positive_rate is reported as 0 and roc_auc is undefined."
NO_PREDICTED = "group {group!r} has no positive predictions: precision is reported as 0."
CONFUSION_COLUMNS = ("tn", "fp", "fn", "tp")


def _four_fifths(grouping: Grouping, selection: np.ndarray, ratio: float, pos_label: str) -> FourFifths:
    most = grouping.groups[int(np.argmax(selection))]
    least = grouping.groups[int(np.argmin(selection))]
    passed = None if np.isnan(ratio) else bool(ratio >= FOUR_FIFTHS)
    sentence = four_fifths_sentence(grouping.attributes, least, most, ratio, pos_label)
    return FourFifths(ratio, passed, most, least, sentence)


def _warnings(grouping: Grouping, counts: ConfusionCounts, min_group_size: int) -> tuple[dict[str, int], list[str]]:
    small, notes = {}, []
    for i, g in enumerate(grouping.groups):
        n = int(counts.count[i])
        if n < min_group_size:
            small[g] = n
            notes.append(SMALL_GROUP.format(group=g, count=n, minimum=min_group_size))
        if counts.tp[i] + counts.fn[i] == 0:
            notes.append(NO_POSITIVES.format(group=g))
        if counts.tn[i] + counts.fp[i] == 0:
            notes.append(NO_NEGATIVES.format(group=g))
        if counts.tp[i] + counts.fp[i] == 0:
            notes.append(NO_PREDICTED.format(group=g))
    return small, notes


def _grouping_report(
    grouping: Grouping,
    gcells: np.ndarray,
    partition: Partition,
    index: ScoreIndex | None,
    policy: dict[str, tuple[Literal["max", "min"], float]],
    pos_label: str,
    min_group_size: int,
    n_boot: int,
    rng: np.random.Generator,
) -> GroupingReport:
    """Every number of one grouping from its confusion counts (and the shared score index)."""
    counts = ConfusionCounts.from_cells(gcells)
    metrics = group_metrics(counts)
    disp = {name: float(v) for name, v in disparities(metrics).items()}
    auc = calibration = None
    if index is not None:
        rows = partition.row_groups(grouping)
        auc = group_roc_auc(index, rows, len(grouping.groups))
        calibration = group_calibration(index, rows, len(grouping.groups))
    small, notes = _warnings(grouping, counts, min_group_size)
    return GroupingReport(
        name=grouping.name,
        attributes=grouping.attributes,
        groups=grouping.groups,
        levels=grouping.levels,
        metrics=metrics,
        disparities=disp,
        four_fifths=_four_fifths(grouping, metrics["selection_rate"], disp["demographic_parity_ratio"], pos_label),
        checks=judge(disp, policy),
        intervals=bootstrap_intervals(gcells, n_boot=n_boot, rng=rng) if n_boot else None,
        roc_auc=auc,
        calibration=calibration,
        small_groups=small,
        warnings=tuple(notes),
    )


def assess(
    y_true: Any,
    y_pred: Any,
    sensitive_features: Any,
    y_score: Any = None,
    *,
    pos_label: str = "1",
    min_group_size: int = 30,
    n_boot: int = 1000,
    seed: int = 0,
    intersections: bool = True,
    thresholds: dict[str, tuple[Literal["max", "min"], float]] | None = None,
) -> FairnessReport:
    """Assess a binary classifier's predictions for group fairness.

    `sensitive_features` is a Series (one attribute) or a DataFrame (one column per attribute); with
    `intersections`, every combination of two and three attributes is assessed too, its groups keyed "v1&v2".
    `y_score` (optional) is the probability of `pos_label` and adds ROC AUC and calibration per group.
    Confidence intervals are seeded 95% bootstrap percentile intervals (`n_boot=0` skips them); groups smaller
    than `min_group_size` are kept and named in a warning. Numbers equal fairlearn's `MetricFrame` and disparity
    functions; see `auditkit.fairness.metrics` for the convention on undefined values.
    """
    pos_label = str(pos_label)
    _check_settings(n_boot, min_group_size, thresholds)
    yt, yp = validation.binary_labels(y_true, y_pred, pos_label)
    frame = validation.sensitive_frame(sensitive_features, len(yt))
    scores = None if y_score is None else validation.scores(y_score, len(yt))
    partition = build_partition(frame, intersections=intersections)
    cells = cell_confusion(partition.row_cell, partition.n_cells, yt, yp)
    index = ScoreIndex.build(yt, scores) if scores is not None else None
    return _report(partition, cells, index, pos_label=pos_label, min_group_size=min_group_size, n_boot=n_boot,
                   seed=seed, thresholds=thresholds)


def _check_settings(n_boot: int, min_group_size: int, thresholds: dict | None) -> None:
    validation.check_setting("n_boot", n_boot, isinstance(n_boot, int) and n_boot >= 0, "an integer >= 0")
    validation.check_setting(
        "min_group_size", min_group_size, isinstance(min_group_size, int) and min_group_size >= 1, "an integer >= 1"
    )
    if thresholds is not None:
        validation.check_setting("thresholds", sorted(thresholds), set(thresholds) <= set(DISPARITIES),
                                 f"a dict keyed by disparity names ({', '.join(DISPARITIES)})")


def _report(
    partition: Partition,
    cells: np.ndarray,
    index: ScoreIndex | None,
    *,
    pos_label: str,
    min_group_size: int,
    n_boot: int,
    seed: int,
    thresholds: dict[str, tuple[Literal["max", "min"], float]] | None,
) -> FairnessReport:
    """Every grouping's report from the finest cells' confusion counts (n_cells, 4)."""
    single = [g for g in partition.groupings if not g.is_intersection and len(g.groups) < 2]
    if single:
        raise DataValidationError(
            [validation.ONE_GROUP.format(col=g.name, value=g.groups[0]) for g in single]
        )
    seeds = np.random.SeedSequence(seed).spawn(len(partition.groupings))
    policy = DEFAULT_THRESHOLDS if thresholds is None else thresholds
    reports = [
        _grouping_report(grouping, group_cells(cells, grouping), partition, index, policy, pos_label,
                         min_group_size, n_boot, np.random.default_rng(child))
        for grouping, child in zip(partition.groupings, seeds)
    ]
    return FairnessReport(tuple(reports), pos_label, int(cells.sum()), n_boot, seed, min_group_size)


def assess_counts(
    cells: pd.DataFrame,
    *,
    row_cell: Any = None,
    y_true: Any = None,
    y_score: Any = None,
    pos_label: str = "1",
    min_group_size: int = 30,
    n_boot: int = 1000,
    seed: int = 0,
    intersections: bool = True,
    thresholds: dict[str, tuple[Literal["max", "min"], float]] | None = None,
) -> FairnessReport:
    """`assess` from confusion counts already aggregated per combination of the sensitive attributes.

    `cells` has one row per combination present in the data: a column per sensitive attribute (the values as
    text) and the counts `tn`, `fp`, `fn`, `tp`. Counts add, so tables from separate chunks or workers can be
    summed first. The report equals `assess` on the rows, numbers and seeded intervals included. ROC AUC and
    calibration need the rows' scores: pass `y_score` (probability of `pos_label`), `y_true` (bool: label is
    positive) and `row_cell` (each row's index into `cells`), in the rows' order; every row of `cells` then
    needs at least one row of data.
    """
    pos_label = str(pos_label)
    _check_settings(n_boot, min_group_size, thresholds)
    counts = np.asarray(cells[list(CONFUSION_COLUMNS)], dtype=np.int64)
    if len(counts) == 0 or counts.sum() == 0:
        raise DataValidationError(validation.EMPTY_INPUT)
    if row_cell is None:  # combinations without rows are absent from the rows' partition too
        cells, counts = cells[counts.sum(axis=1) > 0], counts[counts.sum(axis=1) > 0]
    attributes = [c for c in cells.columns if c not in CONFUSION_COLUMNS]
    frame = validation.sensitive_frame(cells[attributes].astype(str), len(cells))
    partition = build_partition(frame, intersections=intersections)
    finest = np.zeros((partition.n_cells, 4), dtype=np.int64)
    np.add.at(finest, partition.row_cell, counts)
    index = None
    if y_score is not None:
        validation.check_setting("row_cell and y_true", "missing", row_cell is not None and y_true is not None,
                                 "given with y_score (each row's cell and whether its label is positive)")
        scores = validation.scores(y_score, int(counts.sum()))
        rows = np.asarray(row_cell, dtype=np.int64)
        partition = Partition(partition.row_cell[rows], partition.n_cells, partition.groupings)
        index = ScoreIndex.build(np.asarray(y_true, dtype=bool), scores)
    return _report(partition, finest, index, pos_label=pos_label, min_group_size=min_group_size, n_boot=n_boot,
                   seed=seed, thresholds=thresholds)
