"""Model-agnostic tabular explainers from the shap library: permutation and kernel SHAP.

They only call the model (no gradients), so they also explain models that `deep` cannot. With up to 11
features KernelSHAP enumerates every coalition and so gives exact Shapley values.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from auditkit.errors import SettingsError
from auditkit.explain.base import Attribution, Background, finish, model_outputs, register_explainer

WEIGHTED_BACKGROUND = ("Method {0!r} needs an unweighted background; summarise it with strategy='sample' "
                       "(k-means backgrounds work with 'deep' and 'kernel').")


def _predict_fn(module: torch.nn.Module, output_index: int | None) -> Callable[[np.ndarray], np.ndarray]:
    def predict(rows: np.ndarray) -> np.ndarray:
        return model_outputs(module, np.asarray(rows, dtype=np.float32), output_index=output_index)

    return predict


def _permutation(kind: str, module: torch.nn.Module, x: np.ndarray, background: Background,
                    output_index: int | None, feature_names: tuple[str, ...], seed: int) -> Attribution:
    import shap

    if not background.uniform:
        raise SettingsError(WEIGHTED_BACKGROUND.format(kind))
    masker = shap.maskers.Independent(background.data.astype(np.float64), max_samples=len(background.data))
    predict = _predict_fn(module, output_index)
    explainer = shap.explainers.Permutation(predict, masker, seed=seed)
    result = explainer(x.astype(np.float64), max_evals=max(500, 2 * x.shape[1] + 1), silent=True)
    return finish(result.values, result.base_values, x, predict(x), method=kind, feature_names=feature_names)


@register_explainer("permutation")
def explain_permutation(module: torch.nn.Module, x: np.ndarray, background: Background, *,
                        output_index: int | None, feature_names: tuple[str, ...], seed: int) -> Attribution:
    """Permutation SHAP (shap's PermutationExplainer): model-agnostic, additive by construction."""
    return _permutation("permutation", module, x, background, output_index, feature_names, seed)


@register_explainer("kernel")
def explain_kernel(module: torch.nn.Module, x: np.ndarray, background: Background, *, output_index: int | None,
                   feature_names: tuple[str, ...], seed: int) -> Attribution:
    """Kernel SHAP (shap's KernelExplainer) with its default number of samples; exact for up to 11 features."""
    import shap
    from shap.utils._legacy import DenseData

    predict = _predict_fn(module, output_index)
    data = DenseData(background.data.astype(np.float64), list(feature_names), None, background.weights.copy())
    explainer = shap.KernelExplainer(predict, data, seed=seed)
    values = explainer.shap_values(x.astype(np.float64), silent=True)
    return finish(np.asarray(values), explainer.expected_value, x, predict(x), method="kernel",
                  feature_names=feature_names)
