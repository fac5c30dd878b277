"""The loaded model, shared read-only by every panel and session."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from torch import nn


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model ready for inference. `module` is in eval mode and must never be mutated (copy it to train)."""

    kind: Literal["tabular", "text"]
    module: nn.Module
    sha256: str
    fmt: str
    n_outputs: int
    class_names: tuple[str, ...] | None = None
    tokenizer: Any = None
    max_length: int | None = None
    n_features: int | None = None

    @property
    def n_classes(self) -> int:
        """Number of classes: a single logit means binary."""
        return 2 if self.n_outputs == 1 else self.n_outputs
