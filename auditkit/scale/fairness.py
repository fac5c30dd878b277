"""Counting an audit chunk by chunk: per chunk, rows per (sensitive groups, label, prediction); tallies add.

The same functions type and count a chunk in the local streaming engine and in a Ray worker, so both reach
the in-memory engine's numbers: the fairness report is built from the summed counts
(`auditkit.fairness.assess_counts`), and ROC AUC and calibration from every row's score kept in row order.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from auditkit.data.spec import AuditSpec
from auditkit.data.validate import (
    check_not_missing,
    check_numeric,
    check_scores,
    as_label_strings,
)
from auditkit.errors import DataValidationError, SettingsError
from auditkit.fairness import FairnessReport, assess_counts

LABEL = "_label"
PREDICTION = "_prediction"
ROWS = "rows"
SCORE = "_score"
BLOCK = "a block of the dataset"
MAX_CLASSES = 100


def label_strings(values: pd.Series) -> pd.Series:
    """`as_label_strings` without a Python call per row for integer, boolean, integral-float and text columns."""
    kind = values.dtype.kind
    if kind in "iu":
        return values.astype(str).astype(object)
    if kind == "b":
        return values.astype(np.int64).astype(str).astype(object)
    if kind == "f" and bool((values.abs() < 2**53).all()) and bool((values == np.round(values)).all()):
        return values.astype(np.int64).astype(str).astype(object)
    if kind != "O" and pd.api.types.is_string_dtype(values.dtype) and not values.isna().any():
        return values.astype(object)
    return as_label_strings(values)


def type_chunk(frame: pd.DataFrame, spec: AuditSpec, *, needs_features: bool, where: str) -> pd.DataFrame:
    """One chunk typed as `validate_dataset` types the whole table: labels and predictions as label text,
    sensitive values as text, features float32, scores float. Problems start with `where` (which rows)."""
    frame = frame.copy()
    problems = check_not_missing(frame[spec.target], spec.target, "label column")
    frame[spec.target] = label_strings(frame[spec.target])
    for col in spec.sensitive:
        problems += check_not_missing(frame[col], col, "sensitive attribute")
        frame[col] = frame[col].astype(str)
    if needs_features:
        problems += check_numeric(frame, spec.features)
    if spec.text_column:
        problems += check_not_missing(frame[spec.text_column], spec.text_column, "text column")
    if spec.prediction_column:
        problems += check_not_missing(frame[spec.prediction_column], spec.prediction_column, "prediction column")
        frame[spec.prediction_column] = label_strings(frame[spec.prediction_column])
    if spec.score_column:
        problems += check_scores(frame, spec.score_column)
    if problems:
        raise DataValidationError([f"{where}: {p}" for p in problems])
    return frame


def tally_chunk(sensitive: pd.DataFrame, labels: Any, predictions: Any) -> pd.DataFrame:
    """Rows per (sensitive values..., label, prediction) in one chunk: columns sensitive..., `_label`, `_prediction`, `rows`."""
    keyed = sensitive.reset_index(drop=True).assign(**{LABEL: np.asarray(labels), PREDICTION: np.asarray(predictions)})
    return keyed.groupby(list(keyed.columns), sort=False, observed=True).size().rename(ROWS).reset_index()


def tally_predictions(frame: pd.DataFrame, spec: AuditSpec, *, where: str) -> pd.DataFrame:
    """The tally of a raw predictions-only chunk: rows are grouped on their raw values first and only the distinct
    keys are typed, which gives the tally of the typed rows (typing maps equal values to equal text) at a
    fraction of the cost. A chunk with a problem is typed row by row, so the message names the first bad row."""
    keys = [*spec.sensitive, spec.target, spec.prediction_column]
    raw = frame[keys].groupby(keys, sort=False, dropna=False, observed=True).size().rename(ROWS).reset_index()
    try:
        typed = type_chunk(raw, replace(spec, score_column=None, text_column=None, features=()),
                           needs_features=False, where=where)
    except DataValidationError:
        type_chunk(frame, spec, needs_features=False, where=where)
        raise
    typed = typed.rename(columns={spec.target: LABEL, spec.prediction_column: PREDICTION})
    return merge_tallies([typed[[*spec.sensitive, LABEL, PREDICTION, ROWS]]])


def block_tally(batch: pd.DataFrame, spec: AuditSpec) -> pd.DataFrame:
    """A Ray worker's tally of one block of a predictions-only dataset (this module imports no torch)."""
    return tally_predictions(batch, spec, where=BLOCK)


def block_rows(batch: pd.DataFrame, spec: AuditSpec) -> pd.DataFrame:
    """A block of a predictions-only dataset with scores, reduced to the columns the driver keeps."""
    typed = type_chunk(batch, spec, needs_features=False, where=BLOCK)
    return typed[list(spec.sensitive)].assign(**{LABEL: typed[spec.target], PREDICTION: typed[spec.prediction_column],
                                                 SCORE: typed[spec.score_column]})


def merge_tallies(tallies: list[pd.DataFrame]) -> pd.DataFrame:
    """The sum of chunk tallies (counts of equal keys add)."""
    both = pd.concat(tallies, ignore_index=True)
    keys = [c for c in both.columns if c != ROWS]
    return both.groupby(keys, sort=False, observed=True)[ROWS].sum().reset_index()


@dataclass
class RowScores:
    """Every row's score, positive-label flag and group cell, chunk by chunk in row order (for ROC AUC and
    calibration, which need the rows themselves: 13 bytes a row, plus 8 a class with model probabilities)."""

    attributes: list[str]
    codes: list[np.ndarray] = field(default_factory=list)
    keys: list[pd.DataFrame] = field(default_factory=list)
    positive: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)

    def add(self, sensitive: pd.DataFrame, positive: np.ndarray, scores: np.ndarray) -> None:
        """One chunk: sensitive values, y_true == positive label, and the scores (or class probabilities [n, k])."""
        groups = sensitive.reset_index(drop=True).groupby(self.attributes, sort=False, observed=True)
        self.codes.append(groups.ngroup().to_numpy(dtype=np.int32))
        self.keys.append(groups.size().index.to_frame(index=False))
        self.positive.append(np.asarray(positive, dtype=bool))
        self.scores.append(np.asarray(scores))

    def row_cell(self, cells: pd.DataFrame) -> np.ndarray:
        """Each row's index into `cells` (one row per combination of the sensitive values)."""
        lookup = cells[self.attributes].reset_index(drop=True).reset_index(names="_cell")
        parts = [keys.merge(lookup, on=self.attributes, how="left")["_cell"].to_numpy(dtype=np.int64)[codes]
                 for keys, codes in zip(self.keys, self.codes)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def y_true(self) -> np.ndarray:
        return np.concatenate(self.positive)

    def y_score(self, column: int | None = None) -> np.ndarray:
        """The scores as float64; `column` picks the positive class from stored probabilities."""
        stacked = np.concatenate(self.scores)
        return (stacked if column is None else stacked[:, column]).astype(float)


@dataclass(frozen=True)
class TallyResult:
    """What the counts give: label classes, the `predictions` summary and the fairness report."""

    classes: tuple[str, ...]
    predictions: dict[str, Any]
    report: FairnessReport
    warnings: tuple[str, ...]

    @property
    def fairness(self) -> dict[str, Any]:
        """The report's JSON (the `fairness` section)."""
        return self.report.to_dict()


def label_classes(tally: pd.DataFrame, spec: AuditSpec) -> tuple[str, ...]:
    """The label's classes, checked as `validate_dataset` checks them; the chunked engines audit binary labels."""
    values = sorted(tally[LABEL].unique())
    if len(values) < 2:
        raise DataValidationError(f"label column '{spec.target}' has only one class ({values[0]!r}). "
                                  "Fix: audit data that contains both outcomes.")
    if len(values) > MAX_CLASSES:
        raise DataValidationError(f"label column '{spec.target}' has {len(values)} distinct values; this looks like a "
                                  "continuous column. Fix: choose a categorical label.")
    if spec.positive_label not in values:
        raise DataValidationError(f"positive label '{spec.positive_label}' does not occur in '{spec.target}' (values: "
                                  f"{', '.join(values[:10])}). Fix: set the favourable label value (--positive-label) to one of them.")
    if len(values) > 2:
        raise SettingsError(f"label column '{spec.target}' has {len(values)} classes; the chunked and Ray engines "
                            "audit binary labels. Fix: use --engine memory for a multiclass audit.")
    return tuple(values)


def summarise(tally: pd.DataFrame, spec: AuditSpec, classes: tuple[str, ...], *, min_group_size: int,
              prediction_labels: list[str] | None = None, rows: RowScores | None = None,
              score_column: int | None = None) -> TallyResult:
    """The predictions summary and the fairness report from the summed tally (and the rows' scores, if any).

    `prediction_labels` maps model output indices in `_prediction` to label values (None: already labels).
    """
    tally = tally.copy()
    if prediction_labels is not None:
        tally[PREDICTION] = np.asarray(prediction_labels, dtype=object)[tally[PREDICTION].to_numpy(dtype=np.int64)]
    tally[PREDICTION] = tally[PREDICTION].astype(str)
    unknown = sorted(set(tally[PREDICTION]) - set(classes))
    if unknown:
        raise DataValidationError(f"prediction column '{spec.prediction_column}' holds {unknown[0]!r}, which is not a "
                                  f"label class ({', '.join(classes[:10])}). Fix: predictions must use the label's values.")
    pos = spec.positive_label
    n = int(tally[ROWS].sum())
    true_pos, pred_pos = tally[LABEL] == pos, tally[PREDICTION] == pos
    predictions = {
        "rows": n,
        "accuracy": float(tally.loc[tally[LABEL] == tally[PREDICTION], ROWS].sum()) / n,
        "positive_rate": float(tally.loc[pred_pos, ROWS].sum()) / n,
        "label_positive_rate": float(tally.loc[true_pos, ROWS].sum()) / n,
        "predicted_class_counts": {c: int(tally.loc[tally[PREDICTION] == c, ROWS].sum()) for c in classes},
    }
    attributes = list(spec.sensitive)
    kind = np.select([~true_pos & ~pred_pos, ~true_pos & pred_pos, true_pos & ~pred_pos], ["tn", "fp", "fn"], "tp")
    cells = (tally.assign(_kind=kind).pivot_table(index=attributes, columns="_kind", values=ROWS, aggfunc="sum",
                                                 fill_value=0, observed=True)
             .reindex(columns=["tn", "fp", "fn", "tp"], fill_value=0).reset_index())
    cells.columns.name = None
    score_args: dict[str, Any] = {}
    if rows is not None:
        score_args = {"row_cell": rows.row_cell(cells), "y_true": rows.y_true(), "y_score": rows.y_score(score_column)}
    report = assess_counts(cells, pos_label=pos, min_group_size=min_group_size, **score_args)
    return TallyResult(classes, predictions, report, tuple(_small_groups(cells, attributes, min_group_size)))


def _small_groups(cells: pd.DataFrame, attributes: list[str], minimum: int) -> list[str]:
    counts = cells.assign(_n=cells[["tn", "fp", "fn", "tp"]].sum(axis=1))
    out = []
    for col in attributes:
        sizes = counts.groupby(col, observed=True)["_n"].sum().sort_values(ascending=False, kind="stable")
        out += [f"group '{g}' of '{col}' has only {n} rows (minimum {minimum}); its metrics are uncertain."
                for g, n in sizes[sizes < minimum].items()]
    return out
