"""Model-agnostic tabular explainers from the shap library: permutation and kernel SHAP.

They only call the model (no gradients), so they also explain models that `deep` cannot. With up to 11
features KernelSHAP enumerates every coalition and so gives exact Shapley values.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from auditkit.errors import SettingsError
from auditkit.explain.base import (
    CHUNK_ROWS,
    Attribution,
    Background,
    Progress,
    StopCheck,
    chunks,
    finish,
    model_outputs,
    register_explainer,
)

WEIGHTED_BACKGROUND = ("Method {0!r} needs an unweighted background; summarise it with strategy='sample' "
                       "(k-means backgrounds work with 'deep' and 'kernel').")


def _predict_fn(module: torch.nn.Module, output_index: int | None) -> Callable[[np.ndarray], np.ndarray]:
    def predict(rows: np.ndarray) -> np.ndarray:
        return model_outputs(module, np.asarray(rows, dtype=np.float32), output_index=output_index)

    return predict


def _permutation(kind: str, module: torch.nn.Module, x: np.ndarray, background: Background,
                 output_index: int | None, feature_names: tuple[str, ...], seed: int, progress: Progress | None,
                 should_stop: StopCheck | None, chunk_size: int) -> Attribution:
    import shap

    if not background.uniform:
        raise SettingsError(WEIGHTED_BACKGROUND.format(kind))
    masker = shap.maskers.Independent(background.data.astype(np.float64), max_samples=len(background.data))
    predict = _predict_fn(module, output_index)
    explainer = shap.explainers.Permutation(predict, masker, seed=seed)
    values, base = [], []
    for start, stop in chunks(len(x), chunk_size, progress=progress, should_stop=should_stop):
        # one explainer for every chunk: its seeded permutations run on as in a single call over all rows
        result = explainer(x[start:stop].astype(np.float64), max_evals=max(500, 2 * x.shape[1] + 1), silent=True)
        values.append(result.values)
        base.append(result.base_values)
    done = x[:sum(len(v) for v in values)]
    return finish(np.concatenate(values), np.concatenate(base), done, predict(done), method=kind,
                  feature_names=feature_names, rows_requested=len(x))


@register_explainer("permutation")
def explain_permutation(module: torch.nn.Module, x: np.ndarray, background: Background, *,
                        output_index: int | None, feature_names: tuple[str, ...], seed: int,
                        progress: Progress | None = None, should_stop: StopCheck | None = None,
                        chunk_size: int = CHUNK_ROWS) -> Attribution:
    """Permutation SHAP (shap's PermutationExplainer): model-agnostic, additive by construction."""
    return _permutation("permutation", module, x, background, output_index, feature_names, seed, progress,
                        should_stop, chunk_size)


@register_explainer("kernel")
def explain_kernel(module: torch.nn.Module, x: np.ndarray, background: Background, *, output_index: int | None,
                   feature_names: tuple[str, ...], seed: int, progress: Progress | None = None,
                   should_stop: StopCheck | None = None, chunk_size: int = CHUNK_ROWS) -> Attribution:
    """Kernel SHAP (shap's KernelExplainer) with its default number of samples; exact for up to 11 features."""
    import shap
    from shap.utils._legacy import DenseData

    predict = _predict_fn(module, output_index)
    data = DenseData(background.data.astype(np.float64), list(feature_names), None, background.weights.copy())
    explainer = shap.KernelExplainer(predict, data, seed=seed)
    values = [np.asarray(explainer.shap_values(x[start:stop].astype(np.float64), silent=True))
              for start, stop in chunks(len(x), chunk_size, progress=progress, should_stop=should_stop)]
    done = x[:sum(len(v) for v in values)]
    return finish(np.concatenate(values), explainer.expected_value, done, predict(done), method="kernel",
                  feature_names=feature_names, rows_requested=len(x))
