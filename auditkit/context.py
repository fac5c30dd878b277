"""What every panel reads: the validated dataset, the model and its cached predictions."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Hashable, TypeVar

import numpy as np
import pandas as pd

from auditkit.config import Settings
from auditkit.data.spec import AuditSpec
from auditkit.hashing import sha256_bytes

if TYPE_CHECKING:
    from auditkit.families.handle import ModelHandle
    from auditkit.inference.runner import Predictions

T = TypeVar("T")


@dataclass(frozen=True)
class AuditContext:
    """Inputs of every panel; built once per audit by `auditkit.audit.prepare`.

    Labels are strings throughout: `y_true` and `y_pred` hold the label column's values as `str`,
    and `y_score` is the probability of `spec.positive_label` (binary) or None when there are no scores.
    `cohort` is empty for the whole audit and describes the rows of a context made by `subset`.
    `once` keeps results computed for this context, so the audit's sections and the panels share them.
    """

    spec: AuditSpec
    frame: pd.DataFrame
    data_sha256: str
    y_true: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray | None
    classes: tuple[str, ...]
    settings: Settings
    model: "ModelHandle | None" = None
    predictions: "Predictions | None" = None
    cached: bool = False
    warnings: tuple[str, ...] = ()
    cohort: str = ""
    _results: dict[Hashable, Any] = field(default_factory=dict, compare=False, repr=False)

    def recall(self, key: Hashable) -> Any:
        """The result kept for `key` by `once`, or None."""
        return self._results.get(key)

    def once(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()` the first time `key` is asked for on this context; its result every later time."""
        if key not in self._results:
            self._results[key] = compute()
        return self._results[key]

    @property
    def positive_label(self) -> str:
        return self.spec.positive_label

    @property
    def sensitive_features(self) -> pd.DataFrame:
        """The sensitive columns as strings (a group called "NA" stays "NA")."""
        return self.frame[list(self.spec.sensitive)].astype(str)

    @property
    def feature_names(self) -> list[str]:
        """Feature columns in model input order."""
        return list(self.spec.features)

    def features(self) -> np.ndarray:
        """The tabular model's input matrix, float32 [n, n_features]."""
        return self.frame[self.feature_names].to_numpy(dtype=np.float32)

    def texts(self) -> list[str]:
        """The text column as a list of strings (text models)."""
        if not self.spec.text_column:
            raise ValueError("this audit has no text column")
        return self.frame[self.spec.text_column].astype(str).tolist()

    def subset(self, rows: np.ndarray, description: str) -> "AuditContext":
        """The same audit restricted to the rows where the boolean mask `rows` is true (a cohort).

        Its `data_sha256` hashes the parent's with the mask, so every cache keyed on it tells cohorts apart;
        `cohort` describes the rows in words. Rows, labels, scores and predictions are sliced; the model is shared.
        """
        rows = np.asarray(rows, dtype=bool)
        if rows.shape != (len(self.frame),):
            raise ValueError(f"the cohort mask has shape {rows.shape}, expected ({len(self.frame)},)")
        digest = sha256_bytes(self.data_sha256.encode() + np.packbits(rows).tobytes())
        predictions = None if self.predictions is None else replace(
            self.predictions, indices=self.predictions.indices[rows], probabilities=self.predictions.probabilities[rows])
        return replace(self, frame=self.frame[rows].reset_index(drop=True), data_sha256=digest,
                       y_true=self.y_true[rows], y_pred=self.y_pred[rows],
                       y_score=None if self.y_score is None else self.y_score[rows], predictions=predictions,
                       cohort=description, _results={})
