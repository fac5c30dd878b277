"""The model-family interface and the description of a loaded model that the app process receives."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal

import numpy as np
import pandas as pd

from auditkit.config import Settings
from auditkit.data.spec import AuditSpec
from auditkit.errors import DataValidationError
from auditkit.worker.codec import transferable

Progress = Callable[[int, int], None]


@transferable
@dataclass(frozen=True)
class ModelInfo:
    """What the app process knows of a loaded model: its identity and shape, never the model itself."""

    family: str
    sha256: str
    fmt: str
    n_outputs: int
    class_names: tuple[str, ...] | None = None
    n_features: int | None = None
    max_length: int | None = None
    parameters: int = 0
    encoder_layers: int = 0

    @property
    def n_classes(self) -> int:
        """Number of classes: a single logit means binary."""
        return 2 if self.n_outputs == 1 else self.n_outputs


class ModelFamily(ABC):
    """One kind of model. Class attributes describe it; methods marked (worker) run only in the model worker."""

    name: ClassVar[str]
    kind: ClassVar[str]  # recorded as inputs.model_kind in audit.json
    description: ClassVar[str]  # what a user uploads, for messages and --help
    input_role: ClassVar[Literal["features", "text"]]
    batch_sizes: ClassVar[dict[str, int]]  # default inference batch per device type
    membership_rows: ClassVar[int]  # rows of each split a membership-inference attack uses at most
    membership_from_predictions: ClassVar[bool]  # the attack may read the audit's cached probabilities

    @abstractmethod
    def sniff(self, path: Path) -> bool:
        """Whether `path` holds this family's format, judged from its bytes (app process, nothing deserialised)."""

    def prepare(self, path: Path, sha256: str, settings: Settings, **options: Any) -> Path:
        """Check the checkpoint without deserialising anything and return what the worker loads (app process).
        `options` are the family's load options (the same are passed to `load`)."""
        return path

    @abstractmethod
    def load(self, path: Path, sha256: str, settings: Settings, **options: Any) -> Any:
        """The loaded model (worker)."""

    @abstractmethod
    def info(self, model: Any) -> ModelInfo:
        """The loaded model's description (worker)."""

    @abstractmethod
    def forward(self, model: Any, inputs: Any, *, batch_size: int, device: str, progress: Progress | None) -> np.ndarray:
        """Logits for `inputs` in input order, float32 [n] (one logit) or [n, n_outputs] (worker)."""

    @abstractmethod
    def membership(self, model: Any, members: Any, y_members: np.ndarray, nonmembers: Any, y_nonmembers: np.ndarray,
                   **options: Any) -> Any:
        """Membership-inference attacks on the model (`auditkit.privacy.membership`): members and non-members are
        this family's inputs, `options` as there (worker)."""

    @abstractmethod
    def explain(self, ctx: Any, *, max_rows: int | None = None) -> Any:
        """The audit's explanation of its model, kept on the context (app process; the model work runs in the
        worker). Its `to_dict()` is the explanations section."""

    def batch_size(self, device_type: str) -> int:
        """The default inference batch size on a device type."""
        return self.batch_sizes.get(device_type, 64)

    def inputs(self, frame: pd.DataFrame, spec: AuditSpec, info: ModelInfo) -> tuple[Any, dict[str, Any]]:
        """The model's inputs from a validated dataset, and their description for the predictions' cache key."""
        if self.input_role == "text":
            if not spec.text_column:
                raise DataValidationError("a text model needs a text column. Fix: choose the text column (--text-column).")
            return frame[spec.text_column].astype(str).tolist(), {"text_column": spec.text_column}
        check_feature_count(info, spec)
        return frame[list(spec.features)].to_numpy(dtype=np.float32), {"features": list(spec.features)}

    def as_inputs(self, data: Any) -> Any:
        """Data given to `predict` as this family's inputs: a list of strings, or a float32 matrix."""
        return [str(t) for t in data] if self.input_role == "text" else np.asarray(data, dtype=np.float32)

    def columns(self, spec: AuditSpec) -> list[str]:
        """The dataset columns the model reads."""
        return [spec.text_column] if self.input_role == "text" and spec.text_column else list(spec.features)


def check_feature_count(info: ModelInfo, spec: AuditSpec) -> None:
    """The one feature-count check: the chosen feature columns must match the model's input width."""
    if info.n_features and len(spec.features) != info.n_features:
        raise DataValidationError(
            f"the model takes {info.n_features} features but {len(spec.features)} feature columns were chosen "
            f"({', '.join(spec.features[:10])}). Fix: choose the feature columns in the model's input order (--features).")
