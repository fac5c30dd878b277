"""The app's handle on a loaded model: its family, its description, and the worker that holds it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from auditkit.families.base import ModelFamily, ModelInfo
from auditkit.worker.client import ModelWorker
from auditkit.worker.ops import is_registered, op_name


@dataclass(frozen=True, eq=False)
class ModelHandle:
    """A model loaded in its own worker process. The app never holds the model: `run` sends arrays to a
    registered operation (`auditkit.worker.ops.worker_op`) that runs on it in the worker, and gets arrays back."""

    family: ModelFamily
    info: ModelInfo
    worker: ModelWorker

    def run(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(model, *args, **kwargs)` evaluated in the worker; callables among `kwargs` are called back here."""
        if not is_registered(fn):
            raise TypeError(f"{op_name(fn)} is not registered with worker_op")
        return self.worker.call(op_name(fn), list(args), kwargs)

    @property
    def protections(self) -> dict[str, Any]:
        """Which containment was in force in the worker (see `auditkit.worker.sandbox`)."""
        return self.worker.protections

    @property
    def sha256(self) -> str:
        return self.info.sha256

    @property
    def fmt(self) -> str:
        return self.info.fmt

    @property
    def n_outputs(self) -> int:
        return self.info.n_outputs

    @property
    def n_classes(self) -> int:
        return self.info.n_classes

    @property
    def class_names(self) -> tuple[str, ...] | None:
        return self.info.class_names

    @property
    def n_features(self) -> int | None:
        return self.info.n_features

    @property
    def max_length(self) -> int | None:
        return self.info.max_length
