"""Error analysis: the cohorts where the model fails most, found by a shallow decision tree that predicts the
model's errors from the features and sensitive attributes. Each leaf is a cohort, described by its path."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import beta
from sklearn.tree import DecisionTreeClassifier

from auditkit.errors import DataValidationError
from auditkit.fairness import validation

NO_COLUMNS = "Error analysis needs at least one feature or sensitive column to describe cohorts."


@dataclass(frozen=True)
class Cohort:
    """One leaf of the error tree."""

    conditions: tuple[str, ...]
    size: int
    errors: int
    error_rate: float
    ci95: tuple[float, float]
    rows: np.ndarray  # boolean mask over the audited rows

    @property
    def description(self) -> str:
        return " and ".join(self.conditions) if self.conditions else "all rows"

    def to_dict(self) -> dict:
        return {"description": self.description, "conditions": list(self.conditions), "size": self.size,
                "errors": self.errors, "error_rate": self.error_rate, "ci95": list(self.ci95)}


@dataclass(frozen=True)
class ErrorAnalysis:
    """Cohorts sorted by error rate (worst first) and the overall error rate."""

    overall_error_rate: float
    cohorts: tuple[Cohort, ...]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([{k: v for k, v in c.to_dict().items() if k != "conditions"} for c in self.cohorts])

    def to_dict(self) -> dict:
        return {"overall_error_rate": self.overall_error_rate, "cohorts": [c.to_dict() for c in self.cohorts]}


def clopper_pearson(errors: int, size: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact binomial interval for an error rate."""
    alpha = 1.0 - confidence
    lo = 0.0 if errors == 0 else float(beta.ppf(alpha / 2, errors, size - errors + 1))
    hi = 1.0 if errors == size else float(beta.ppf(1 - alpha / 2, errors + 1, size - errors))
    return lo, hi


def _design(frame: pd.DataFrame) -> tuple[np.ndarray, list[tuple[str, str | None, str | None]]]:
    """Numeric columns as they are, other columns one-hot; per design column (column, category, the other category
    when the column has exactly two)."""
    parts, meaning = [], []
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            parts.append(s.to_numpy(dtype=np.float64))
            meaning.append((str(col), None, None))
        else:
            text = s.astype(str)
            values = sorted(text.unique())
            for value in values:
                parts.append((text == value).to_numpy(dtype=np.float64))
                other = next((v for v in values if v != value), None) if len(values) == 2 else None
                meaning.append((str(col), value, other))
    return np.column_stack(parts), meaning


def _number(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


def _conditions(steps: list[tuple[tuple[str, str | None, str | None], float, bool]]) -> tuple[str, ...]:
    """A tree path as readable conditions, one per column: "a < x <= b" for numbers, "= v" / "!= v" for categories."""
    bounds: dict[str, list[float | None]] = {}
    equal: dict[str, str] = {}
    not_equal: dict[str, list[str]] = {}
    for (col, category, other), threshold, left in steps:
        if category is None:
            lo_hi = bounds.setdefault(col, [None, None])
            if left:
                lo_hi[1] = threshold if lo_hi[1] is None else min(lo_hi[1], threshold)
            else:
                lo_hi[0] = threshold if lo_hi[0] is None else max(lo_hi[0], threshold)
        elif not left:
            equal[col] = category
        elif other is not None:
            equal[col] = other
        else:
            not_equal.setdefault(col, []).append(category)
    out = []
    for col, (lo, hi) in bounds.items():
        if lo is not None and hi is not None:
            out.append(f"{_number(lo)} < {col} <= {_number(hi)}")
        elif lo is not None:
            out.append(f"{col} > {_number(lo)}")
        else:
            out.append(f"{col} <= {_number(hi)}")
    out += [f"{col} = {value}" for col, value in equal.items()]
    out += [f"{col} != {value}" for col, values in not_equal.items() if col not in equal
            for value in dict.fromkeys(values)]
    return tuple(out)


def error_cohorts(
    columns: pd.DataFrame,
    y_true: Any,
    y_pred: Any,
    *,
    max_depth: int = 3,
    min_cohort_size: int = 30,
    seed: int = 0,
) -> ErrorAnalysis:
    """Fit a depth-limited tree on `columns` to predict where y_pred != y_true; one cohort per leaf."""
    validation.check_setting("max_depth", max_depth, isinstance(max_depth, int) and 1 <= max_depth <= 8, "1 to 8")
    validation.check_setting("min_cohort_size", min_cohort_size,
                             isinstance(min_cohort_size, int) and min_cohort_size >= 1, "an integer >= 1")
    yt, yp = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    if columns.shape[1] == 0:
        raise DataValidationError(NO_COLUMNS)
    if len(yt) != len(columns) or len(yp) != len(columns):
        raise DataValidationError(validation.LENGTH_MISMATCH.format(name="columns", got=len(columns), n=len(yt)))
    wrong = yt != yp
    X, meaning = _design(columns.reset_index(drop=True))
    tree = DecisionTreeClassifier(max_depth=max_depth, min_samples_leaf=min_cohort_size, random_state=seed)
    tree.fit(X, wrong)
    leaf = tree.apply(X)
    t = tree.tree_
    paths: dict[int, list] = {0: []}
    stack = [0]
    while stack:
        node = stack.pop()
        left, right = t.children_left[node], t.children_right[node]
        if left == -1:
            continue
        m, thr = meaning[t.feature[node]], float(t.threshold[node])
        paths[left] = paths[node] + [(m, thr, True)]
        paths[right] = paths[node] + [(m, thr, False)]
        stack += [left, right]
    cohorts = []
    for node in np.unique(leaf):
        rows = leaf == node
        size, errors = int(rows.sum()), int(wrong[rows].sum())
        cohorts.append(Cohort(_conditions(paths[int(node)]), size, errors, errors / size,
                              clopper_pearson(errors, size), rows))
    cohorts.sort(key=lambda c: (-c.error_rate, -c.size))
    return ErrorAnalysis(float(wrong.mean()), tuple(cohorts))


def _binned(column: pd.Series, bins: int) -> pd.Series:
    """Numbers in (at most) `bins` quantile bins labelled by their range; other values as text."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column) and column.nunique() > bins:
        cut = pd.qcut(column, q=bins, duplicates="drop")
        return cut.map(lambda iv: f"{_number(iv.left)} to {_number(iv.right)}").astype(str)
    return column.astype(str)


def _order_key(column: pd.Series, bins: int):
    """Sort key keeping numeric bins in numeric order (their labels start with the lower bound)."""
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column) and column.nunique() > bins:
        return lambda s: s.str.split(" to ").str[0].str.replace(",", "").astype(float)
    return None


def error_heatmap(columns: pd.DataFrame, first: str, second: str, y_true: Any, y_pred: Any, *,
                  bins: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Error rate and row count for every pair of bins of two columns (numbers in quantile bins)."""
    validation.check_setting("bins", bins, isinstance(bins, int) and 2 <= bins <= 20, "2 to 20")
    wrong = np.asarray(y_true).astype(str) != np.asarray(y_pred).astype(str)
    frame = pd.DataFrame({"a": _binned(columns[first].reset_index(drop=True), bins),
                          "b": _binned(columns[second].reset_index(drop=True), bins), "wrong": wrong})
    grouped = frame.groupby(["a", "b"], sort=False)["wrong"]
    order_a = list(dict.fromkeys(frame.sort_values("a", key=_order_key(columns[first], bins))["a"]))
    order_b = list(dict.fromkeys(frame.sort_values("b", key=_order_key(columns[second], bins))["b"]))
    rate = grouped.mean().unstack().reindex(index=order_a, columns=order_b)
    count = grouped.size().unstack().reindex(index=order_a, columns=order_b).fillna(0).astype(int)
    rate.index.name, rate.columns.name = first, second
    count.index.name, count.columns.name = first, second
    return rate, count


def heatmap_cell_rows(columns: pd.DataFrame, first: str, second: str, row_bin: str, column_bin: str, *,
                      bins: int = 5) -> np.ndarray:
    """Boolean mask of the rows in the heat-map cell (`row_bin`, `column_bin`) labelled as `error_heatmap` does."""
    a = _binned(columns[first].reset_index(drop=True), bins)
    b = _binned(columns[second].reset_index(drop=True), bins)
    return ((a == row_bin) & (b == column_bin)).to_numpy()
