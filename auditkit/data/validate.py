"""Check a table against an audit spec; report every problem at once, each naming the column and the fix."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from auditkit.config import Settings
from auditkit.data.lookalike import look_alike_groups
from auditkit.data.spec import AuditSpec
from auditkit.errors import DataValidationError


@dataclass(frozen=True)
class ValidatedDataset:
    """A dataset that satisfies its spec. `frame` is a copy; the user's file is never modified."""

    frame: pd.DataFrame
    spec: AuditSpec
    classes: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def y_true(self) -> np.ndarray:
        return self.frame[self.spec.target].to_numpy(dtype=str)


def as_label_strings(values: pd.Series) -> pd.Series:
    """Labels as strings; integral floats lose their '.0' so 1.0 and "1" name the same class."""
    def one(v: object) -> str:
        if isinstance(v, (float, np.floating)) and np.isfinite(v) and float(v).is_integer():
            return str(int(v))
        if isinstance(v, (bool, np.bool_)):
            return str(int(v))
        return str(v)
    return values.map(one).astype(object)


def _missing_mask(values: pd.Series, *, words: bool = True) -> pd.Series:
    """Empty and null cells; with `words`, also the cells that spell a missing value ("nan", "None", "null")."""
    text = values.astype(str).str.strip()
    return values.isna() | (text.isin({"", "nan", "NaN", "None", "null"}) if words else text.eq(""))


def _first_row(mask: pd.Series) -> int:
    return int(np.flatnonzero(mask.to_numpy())[0]) + 1


def resolve_features(spec: AuditSpec, columns: list[str]) -> AuditSpec:
    """Fill in the default feature list: every column without another role, in file order."""
    if spec.features or spec.text_column:
        return spec
    taken = spec.role_columns() | {"split"}
    return replace(spec, features=tuple(c for c in columns if c not in taken))


def validate_dataset(frame: pd.DataFrame, spec: AuditSpec, *, settings: Settings | None = None,
                     needs_features: bool = False) -> ValidatedDataset:
    """Validate roles and values. Raises DataValidationError listing every problem found."""
    settings = settings or Settings.from_env()
    columns = [str(c) for c in frame.columns]
    spec = resolve_features(spec, columns)
    problems = missing_columns(spec, columns) + role_overlaps(spec)
    if problems:
        raise DataValidationError(problems)
    frame = frame.copy()
    frame[spec.target] = as_label_strings(frame[spec.target])
    problems += _check_label(frame, spec)
    for col in spec.sensitive:
        problems += check_not_missing(frame[col], col, "sensitive attribute")
        frame[col] = frame[col].astype(str)
        problems += check_group_count(frame[col], col, settings.max_groups)
    if needs_features:
        problems += check_numeric(frame, spec.features)
        if not spec.features:
            problems.append("no feature columns are left for the model. Fix: choose the feature columns (--features), or keep them in the file.")
    if spec.text_column:
        problems += check_not_missing(frame[spec.text_column], spec.text_column, "text column")
    classes = tuple(sorted(frame[spec.target].unique()))
    if spec.prediction_column:
        frame[spec.prediction_column] = as_label_strings(frame[spec.prediction_column])
        problems += _check_predictions(frame[spec.prediction_column], spec.prediction_column, classes)
    if spec.score_column:
        problems += check_scores(frame, spec.score_column)
    if problems:
        raise DataValidationError(problems)
    warnings = [w for col in spec.sensitive for w in look_alike_groups(frame[col].unique(), col)]
    return ValidatedDataset(frame, spec, classes, tuple(warnings + _small_groups(frame, spec, settings.min_group_size)))


def check_group_count(values: pd.Series, col: str, limit: int) -> list[str]:
    """A problem when a sensitive attribute has more distinct groups than `limit` (AUDITKIT_MAX_GROUPS)."""
    count = int(values.nunique())
    if count > limit:
        return [f"sensitive attribute '{col}' has {count} distinct groups, over the {limit} limit "
                "(AUDITKIT_MAX_GROUPS); per-group metrics of so many groups say nothing. Fix: choose a categorical "
                "column, bin this one into fewer groups, or raise AUDITKIT_MAX_GROUPS."]
    return []


def missing_columns(spec: AuditSpec, columns: list[str]) -> list[str]:
    """A problem per role whose column is not among `columns`."""
    roles = [("target", spec.target)] + [("sensitive attribute", c) for c in spec.sensitive] + \
        [("feature", c) for c in spec.features] + [(r, getattr(spec, f)) for r, f in
        [("text column", "text_column"), ("prediction column", "prediction_column"), ("score column", "score_column")]]
    available = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
    return [f"column '{c}' ({role}) is not in the file. Fix: choose one of: {available}."
            for role, c in roles if c and c not in columns]


def role_overlaps(spec: AuditSpec) -> list[str]:
    """A problem per column given more than one role."""
    problems = []
    if not spec.sensitive:
        problems.append("no sensitive attribute was given. Fix: choose one or more sensitive attribute columns (--sensitive).")
    if spec.target in spec.sensitive:
        problems.append(f"column '{spec.target}' is both the label and a sensitive attribute. Fix: choose different columns.")
    if spec.target in spec.features:
        problems.append(f"the label column '{spec.target}' is also listed as a feature. Fix: remove it from the feature columns (--features).")
    for c in spec.sensitive:
        if c in spec.features:
            problems.append(f"sensitive attribute '{c}' is also listed as a feature. Fix: remove it from the feature columns (--features), or audit it as a feature only.")
    return problems


def check_not_missing(values: pd.Series, col: str, role: str) -> list[str]:
    """A problem when `values` has missing cells, naming the first bad row. A sensitive attribute's cell that
    spells "None", "null" or "nan" is a group of that name (like "NA"); only empty and null cells are missing."""
    missing = _missing_mask(values, words=role != "sensitive attribute")
    if missing.any():
        return [f"{role} '{col}' has {int(missing.sum())} empty or NaN values (first at row {_first_row(missing)}). "
                "Fix: fill or remove those rows."]
    return []


def _check_label(frame: pd.DataFrame, spec: AuditSpec) -> list[str]:
    problems = check_not_missing(frame[spec.target], spec.target, "label column")
    if problems:
        return problems
    values = sorted(frame[spec.target].unique())
    if len(values) < 2:
        return [f"label column '{spec.target}' has only one class ({values[0]!r}). Fix: audit data that contains both outcomes."]
    if len(values) > 100:
        return [f"label column '{spec.target}' has {len(values)} distinct values; this looks like a continuous column. Fix: choose a categorical label."]
    if spec.positive_label not in values:
        shown = ", ".join(values[:10])
        return [f"positive label '{spec.positive_label}' does not occur in '{spec.target}' (values: {shown}). "
                f"Fix: set the favourable label value (--positive-label) to one of them."]
    return []


def check_numeric(frame: pd.DataFrame, features: tuple[str, ...]) -> list[str]:
    """A problem per feature column holding text, NaN or infinity (naming the first bad row); clean columns are
    converted to float32 in `frame`."""
    problems = []
    for col in features:
        raw = frame[col]
        numeric = pd.to_numeric(raw, errors="coerce") if raw.dtype == object or str(raw.dtype).startswith("str") else raw.astype(float)
        bad = numeric.isna() | ~np.isfinite(numeric.astype(float))
        if bad.any():
            row = _first_row(bad)
            problems.append(f"feature '{col}' must be numeric and finite; row {row} holds {str(raw.iloc[row - 1])!r}. "
                            "Fix: encode or clean that column, or leave it out of the feature columns (--features).")
        else:
            frame[col] = numeric.astype(np.float32)
    return problems


def _check_predictions(values: pd.Series, col: str, classes: tuple[str, ...]) -> list[str]:
    unknown = ~values.isin(classes)
    if unknown.any():
        row = _first_row(unknown)
        return [f"prediction column '{col}' holds {values.iloc[row - 1]!r} at row {row}, which is not a label class "
                f"({', '.join(classes[:10])}). Fix: predictions must use the label's values."]
    return []


def check_scores(frame: pd.DataFrame, col: str) -> list[str]:
    """A problem when the score column is not a probability in [0, 1] on every row; a clean column is converted
    to float in `frame`."""
    scores = pd.to_numeric(frame[col], errors="coerce")
    bad = scores.isna() | (scores < 0) | (scores > 1)
    if bad.all():
        return [f"score column '{col}' has no usable values. Fix: scores must be probabilities between 0 and 1."]
    if bad.any():
        return [f"score column '{col}' must hold probabilities in [0, 1]; row {_first_row(bad)} holds "
                f"{frame[col].iloc[_first_row(bad) - 1]!r}. Fix: clean that column, or audit without a score column (--score-column)."]
    frame[col] = scores.astype(float)
    return []


def _small_groups(frame: pd.DataFrame, spec: AuditSpec, minimum: int) -> list[str]:
    warnings = []
    for col in spec.sensitive:
        counts = frame[col].value_counts()
        for group, n in counts[counts < minimum].items():
            warnings.append(f"group '{group}' of '{col}' has only {n} rows (minimum {minimum}); its metrics are uncertain.")
    return warnings
