"""The tabular explanation methods by name: loads the built-in plug-ins once (`deep` from `tabular_shap`,
`permutation` and `kernel` from `shap_library`, each registered into `auditkit.explain.base`) and dispatches
`explain_tabular` to the one asked for."""
from __future__ import annotations

import numpy as np
import torch

from auditkit.errors import SettingsError
from auditkit.explain import shap_library, tabular_shap  # noqa: F401  (the plug-ins register themselves)
from auditkit.explain.base import (
    CHUNK_ROWS,
    ROWS_EMPTY,
    Attribution,
    Background,
    ExplanationError,
    Progress,
    StopCheck,
    registered_explainers,
)

UNKNOWN_METHOD = "Unknown explanation method {0!r}; available methods are {1}."
BAD_FEATURES = "The model takes {0} features but the data has {1} columns; check the audit's feature columns."


def available_methods() -> tuple[str, ...]:
    """Names of the registered tabular explanation methods, sorted."""
    return tuple(sorted(registered_explainers()))


def explain_tabular(
    module: torch.nn.Module,
    x: np.ndarray,
    *,
    background: Background | np.ndarray,
    method: str = "deep",
    output_index: int | None = None,
    feature_names: tuple[str, ...] | list[str] | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    should_stop: StopCheck | None = None,
    chunk_size: int = CHUNK_ROWS,
) -> Attribution:
    """SHAP values of `module`'s logit for rows `x` (float32 [n, f]) against `background`.

    `method`: "deep" (DeepSHAP rescale rule, exact for linear models, additive by construction; needs gradients),
    "permutation" (model-agnostic, additive by construction) or "kernel" (KernelSHAP: slow; exact with <= 11 features).
    Rows are explained `chunk_size` at a time: `progress(rows_done, n)` after each chunk, and once `should_stop()`
    is true the rows explained so far are returned (`stopped_early`; the first chunk always runs).
    """
    explainers = registered_explainers()
    if method not in explainers:
        raise SettingsError(UNKNOWN_METHOD.format(method, ", ".join(sorted(explainers))))
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ExplanationError(ROWS_EMPTY)
    if not isinstance(background, Background):
        background = Background(np.asarray(background, dtype=np.float32),
                                np.full(len(background), 1.0 / len(background)), "sample")
    if background.data.shape[1] != x.shape[1]:
        raise ExplanationError(BAD_FEATURES.format(background.data.shape[1], x.shape[1]))
    names = tuple(feature_names) if feature_names is not None else tuple(f"x{j}" for j in range(x.shape[1]))
    if len(names) != x.shape[1]:
        raise ExplanationError(BAD_FEATURES.format(len(names), x.shape[1]))
    return explainers[method](module, x, background, output_index=output_index, feature_names=names, seed=seed,
                              progress=progress, should_stop=should_stop, chunk_size=chunk_size)
