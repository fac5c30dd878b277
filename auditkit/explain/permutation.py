"""Cross-check 1: scikit-learn's permutation importance of the model's accuracy."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin

from auditkit.explain.base import module_device


class TorchClassifier(ClassifierMixin, BaseEstimator):
    """A fitted-already sklearn classifier over a tabular torch module: predicts dataset labels.

    `labels[i]` is the dataset label of model output index i (for a single-logit model: index 1 when logit > 0).
    """

    def __init__(self, module: torch.nn.Module, labels: Sequence[str]):
        self.module = module
        self.labels = labels

    def fit(self, x: np.ndarray, y: np.ndarray) -> "TorchClassifier":
        self.classes_ = np.asarray(self.labels)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.labels)[predicted_indices(self.module, np.asarray(x, dtype=np.float32))]


def predicted_indices(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """Predicted class index per row: logit > 0 for single-logit models, else argmax."""
    with torch.inference_mode():
        out = module(torch.tensor(x, dtype=torch.float32, device=module_device(module)))
    out = out.float().cpu().numpy()
    if out.ndim == 1 or out.shape[-1] == 1:
        return (out.reshape(len(x)) > 0).astype(np.int64)
    return np.argmax(out, axis=1)


def permutation_check(module: torch.nn.Module, x: np.ndarray, y_true: np.ndarray, labels: Sequence[str], *,
                      feature_names: Sequence[str], n_repeats: int = 5, seed: int = 0) -> dict[str, object]:
    """Drop in accuracy when each feature is shuffled (mean and standard deviation over `n_repeats`)."""
    from sklearn.inspection import permutation_importance

    est = TorchClassifier(module, list(labels)).fit(x, y_true)
    result = permutation_importance(est, x, np.asarray(y_true).astype(str), scoring="accuracy",
                                    n_repeats=n_repeats, random_state=seed)
    order = np.argsort(-result.importances_mean, kind="stable")
    return {
        "metric": "accuracy",
        "baseline_accuracy": float(est.score(x, np.asarray(y_true).astype(str))),
        "n_repeats": n_repeats,
        "importance": {feature_names[j]: float(result.importances_mean[j]) for j in order},
        "std": {feature_names[j]: float(result.importances_std[j]) for j in order},
    }
