"""What every panel reads: the validated dataset, the model and its cached predictions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from auditkit.config import Settings
from auditkit.data.spec import AuditSpec

if TYPE_CHECKING:
    from auditkit.checkpoints.handle import LoadedModel
    from auditkit.inference.runner import Predictions


@dataclass(frozen=True)
class AuditContext:
    """Inputs of every panel; built once per audit by `auditkit.audit.prepare`.

    Labels are strings throughout: `y_true` and `y_pred` hold the label column's values as `str`,
    and `y_score` is the probability of `spec.positive_label` (binary) or None when there are no scores.
    """

    spec: AuditSpec
    frame: pd.DataFrame
    data_sha256: str
    y_true: np.ndarray
    y_pred: np.ndarray
    y_score: np.ndarray | None
    classes: tuple[str, ...]
    settings: Settings
    model: "LoadedModel | None" = None
    predictions: "Predictions | None" = None
    cached: bool = False
    warnings: tuple[str, ...] = ()

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
