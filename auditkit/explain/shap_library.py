"""Model-agnostic tabular explainers from the shap library: exact, permutation and kernel SHAP.

They only call the model (no gradients), so they also explain models that `deep` cannot. "exact" enumerates
every coalition (2^f model evaluations per row and background row), so it is limited to few features.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from auditkit.errors import SettingsError
from auditkit.explain.base import Attribution, Background, finish, model_outputs, register_explainer

MAX_EXACT_FEATURES = 14
TOO_MANY_FEATURES = ("Exact SHAP needs 2^{0} model calls per row; it is limited to {1} features. "
                     "Use method='deep' or 'permutation'.")
WEIGHTED_BACKGROUND = ("Method {0!r} needs an unweighted background; summarise it with strategy='sample' "
                       "(k-means backgrounds work with 'deep' and 'kernel').")


def _predict_fn(module: torch.nn.Module, output_index: int | None) -> Callable[[np.ndarray], np.ndarray]:
    def predict(rows: np.ndarray) -> np.ndarray:
        return model_outputs(module, np.asarray(rows, dtype=np.float32), output_index=output_index)

    return predict


def _masker_explain(kind: str, module: torch.nn.Module, x: np.ndarray, background: Background,
                    output_index: int | None, feature_names: tuple[str, ...], seed: int) -> Attribution:
    import shap

    if not background.uniform:
        raise SettingsError(WEIGHTED_BACKGROUND.format(kind))
    masker = shap.maskers.Independent(background.data.astype(np.float64), max_samples=len(background.data))
    predict = _predict_fn(module, output_index)
    if kind == "exact":
        explainer = shap.explainers.Exact(predict, masker)
        result = explainer(x.astype(np.float64), silent=True)
    else:
        explainer = shap.explainers.Permutation(predict, masker, seed=seed)
        result = explainer(x.astype(np.float64), max_evals=max(500, 2 * x.shape[1] + 1), silent=True)
    return finish(result.values, result.base_values, x, predict(x), method=kind, feature_names=feature_names)


@register_explainer("exact")
def explain_exact(module: torch.nn.Module, x: np.ndarray, background: Background, *, output_index: int | None,
                  feature_names: tuple[str, ...], seed: int) -> Attribution:
    """Exact interventional Shapley values (shap's ExactExplainer); few features only."""
    if x.shape[1] > MAX_EXACT_FEATURES:
        raise SettingsError(TOO_MANY_FEATURES.format(x.shape[1], MAX_EXACT_FEATURES))
    return _masker_explain("exact", module, x, background, output_index, feature_names, seed)


@register_explainer("permutation")
def explain_permutation(module: torch.nn.Module, x: np.ndarray, background: Background, *,
                        output_index: int | None, feature_names: tuple[str, ...], seed: int) -> Attribution:
    """Permutation SHAP (shap's PermutationExplainer): model-agnostic, additive by construction."""
    return _masker_explain("permutation", module, x, background, output_index, feature_names, seed)


@register_explainer("kernel")
def explain_kernel(module: torch.nn.Module, x: np.ndarray, background: Background, *, output_index: int | None,
                   feature_names: tuple[str, ...], seed: int) -> Attribution:
    """Kernel SHAP (shap's KernelExplainer) with its default number of samples; the slow reference."""
    import shap
    from shap.utils._legacy import DenseData

    predict = _predict_fn(module, output_index)
    data = DenseData(background.data.astype(np.float64), list(feature_names), None, background.weights.copy())
    explainer = shap.KernelExplainer(predict, data, seed=seed)
    values = explainer.shap_values(x.astype(np.float64), silent=True)
    return finish(np.asarray(values), explainer.expected_value, x, predict(x), method="kernel",
                  feature_names=feature_names)
