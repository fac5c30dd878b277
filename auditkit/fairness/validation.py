"""Input checks for the fairness engine; every message names the problem and the fix."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from auditkit.errors import DataValidationError, SettingsError

EMPTY_INPUT = "No rows to assess: y_true is empty. Pass at least one row per group."
LENGTH_MISMATCH = "{name} has {got} rows but y_true has {n}; pass one value per row."
MISSING_LABELS = "{name} has {count} missing values; fill or drop those rows before the fairness assessment."
NOT_BINARY = (
    "The label is not binary: found {count} classes ({classes}) in y_true and y_pred, but these fairness "
    "metrics need exactly a positive and a negative class. Map the labels to two classes, or use "
    "`assess_multiclass` for a one-vs-rest assessment."
)
POSITIVE_MISSING = (
    "The positive label {pos!r} does not occur in y_true or y_pred (found: {classes}). "
    "Set the positive label (--positive-label) to one of these values."
)
NO_ATTRIBUTES = "No sensitive attribute given; choose at least one sensitive column (--sensitive COL)."
SENSITIVE_MISSING = (
    "Sensitive column {col!r} has {count} missing values; fill them (e.g. with 'unknown') so those rows form "
    "their own group, or drop them."
)
ONE_GROUP = (
    "Sensitive column {col!r} has a single group ({value!r}); a fairness comparison needs at least two groups. "
    "Choose another column or include rows of other groups."
)
SCORES_ALL_NAN = (
    "y_score is entirely missing (all NaN); pass the model's probability of the positive class, or no scores."
)
SCORES_SOME_NAN = "y_score has {count} missing values; every row needs a score (or pass no scores at all)."
SCORES_RANGE = (
    "y_score must be probabilities of the positive class in [0, 1]; found values from {lo:.4g} to {hi:.4g}. "
    "Apply a sigmoid/softmax to logits first."
)
SCORES_NOT_NUMERIC = "y_score must be numeric probabilities of the positive class; could not read it as numbers."
BAD_SETTING = "{name} must be {rule}; got {value!r}."


def check_setting(name: str, value: Any, ok: bool, rule: str) -> None:
    if not ok:
        raise SettingsError(BAD_SETTING.format(name=name, rule=rule, value=value))


def _values(y: Any) -> np.ndarray:
    return y.to_numpy() if isinstance(y, (pd.Series, pd.Index)) else np.asarray(y)


def _comparable(y: np.ndarray) -> np.ndarray:
    """Fixed-width text of 1 or 2 characters viewed as integers (same equalities, much faster), else as it is."""
    view = {4: np.uint32, 8: np.uint64}.get(y.dtype.itemsize)
    return y.view(view) if view is not None and y.flags.c_contiguous else y


def _positive_mask(y: np.ndarray, pos_label: str, name: str) -> tuple[np.ndarray, list[str]]:
    """(y == positive label, the distinct values seen, at most three of them) for one label array."""
    if y.dtype.kind == "U":
        codes = _comparable(y)
        if len(pos_label) * 4 > y.dtype.itemsize:
            pos = np.zeros(len(y), dtype=bool)
        else:
            pos = codes == np.array(pos_label, dtype=y.dtype).reshape(1).view(codes.dtype)[0]
        seen = [pos_label] if pos.any() else []
        neg = ~pos
        if neg.any():
            first = int(np.argmax(neg))
            seen.append(str(y[first]))
            other = neg & (codes != codes[first])
            if other.any():
                seen.append(str(y[int(np.argmax(other))]))
        return pos, seen
    uniques = pd.unique(y.ravel())
    missing = pd.isna(uniques)
    if missing.any():
        raise DataValidationError(MISSING_LABELS.format(name=name, count=int(pd.isna(y).sum())))
    texts = [str(u) for u in uniques]
    positives = [u for u, t in zip(uniques, texts) if t == pos_label]
    return np.isin(y, positives), texts


def binary_labels(y_true: Any, y_pred: Any, pos_label: str) -> tuple[np.ndarray, np.ndarray]:
    """Boolean arrays (y_true == positive, y_pred == positive), after checking the labels are binary."""
    yt, yp = _values(y_true), _values(y_pred)
    if yt.ndim != 1 or len(yt) == 0:
        raise DataValidationError(EMPTY_INPUT)
    if len(yp) != len(yt):
        raise DataValidationError(LENGTH_MISMATCH.format(name="y_pred", got=len(yp), n=len(yt)))
    pos_t, seen_t = _positive_mask(yt, pos_label, "y_true")
    pos_p, seen_p = _positive_mask(yp, pos_label, "y_pred")
    classes = sorted(set(seen_t) | set(seen_p))
    if len(classes) > 2:
        classes = sorted({str(v) for v in pd.unique(np.concatenate([yt.ravel(), yp.ravel()]).astype(object))})
        shown = ", ".join(repr(c) for c in classes[:10]) + (", ..." if len(classes) > 10 else "")
        raise DataValidationError(NOT_BINARY.format(count=len(classes), classes=shown))
    if pos_label not in classes:
        raise DataValidationError(POSITIVE_MISSING.format(pos=pos_label, classes=", ".join(repr(c) for c in classes)))
    return pos_t, pos_p


def true_labels(y_true: Any, pos_label: str) -> np.ndarray:
    """Boolean y_true == positive, after checking the label is binary and holds the positive class."""
    return binary_labels(y_true, y_true, pos_label)[0]


def sensitive_frame(sensitive_features: Any, n: int) -> pd.DataFrame:
    """The sensitive attributes as a DataFrame with string column names, checked for gaps."""
    if isinstance(sensitive_features, pd.Series):
        frame = sensitive_features.to_frame(name=sensitive_features.name or "sensitive_feature_0")
    elif isinstance(sensitive_features, pd.DataFrame):
        frame = sensitive_features
    else:
        arr = np.asarray(sensitive_features)
        arr = arr.reshape(-1, 1) if arr.ndim == 1 else arr
        frame = pd.DataFrame(arr, columns=[f"sensitive_feature_{i}" for i in range(arr.shape[1])])
    if frame.shape[1] == 0:
        raise DataValidationError(NO_ATTRIBUTES)
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    if len(frame) != n:
        raise DataValidationError(LENGTH_MISMATCH.format(name="sensitive_features", got=len(frame), n=n))
    problems = [
        SENSITIVE_MISSING.format(col=col, count=int(missing))
        for col, missing in frame.isna().sum().items()
        if missing
    ]
    if problems:
        raise DataValidationError(problems)
    return frame


def scores(y_score: Any, n: int) -> np.ndarray:
    """Scores as float64 probabilities, checked for length, gaps and range."""
    try:
        s = np.asarray(_values(y_score), dtype=np.float64).ravel()
    except (TypeError, ValueError) as e:
        raise DataValidationError(SCORES_NOT_NUMERIC) from e
    if len(s) != n:
        raise DataValidationError(LENGTH_MISMATCH.format(name="y_score", got=len(s), n=n))
    nan = np.isnan(s)
    if nan.all():
        raise DataValidationError(SCORES_ALL_NAN)
    if nan.any():
        raise DataValidationError(SCORES_SOME_NAN.format(count=int(nan.sum())))
    lo, hi = float(s.min()), float(s.max())
    if lo < 0 or hi > 1:
        raise DataValidationError(SCORES_RANGE.format(lo=lo, hi=hi))
    return s
