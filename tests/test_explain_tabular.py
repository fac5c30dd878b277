"""Tabular SHAP: exact values on linear models, agreement with shap's explainers, additivity, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import shap
import torch
from torch import nn

from auditkit.errors import SettingsError
from auditkit.explain import ExplanationError, explain_tabular, summarize_background
from auditkit.explain.tabular_shap import NO_GRADIENTS
from auditkit.tabular import TabularMLP, export_tabular

W = np.array([3.0, -2.0, 0.5, 0.0, 1.0])
STD = np.array([1.0, 2.0, 4.0, 1.0, 0.5])


def _data(n: int = 300, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, len(W))) * STD + np.arange(len(W))).astype(np.float32)


class Linear(nn.Module):
    def __init__(self, w: np.ndarray, b: float = 0.25):
        super().__init__()
        self.lin = nn.Linear(len(w), 1)
        with torch.no_grad():
            self.lin.weight.copy_(torch.tensor(w[None], dtype=torch.float32))
            self.lin.bias.fill_(b)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x).squeeze(-1)


class NoGrad(Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.lin(x).squeeze(-1)


def _exported(module: nn.Module, n_features: int, tmp_path) -> nn.Module:
    path = export_tabular(module, n_features, tmp_path / "m.pt2")
    return torch.export.load(str(path)).module()


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    x = _data()
    return TabularMLP(x.shape[1], hidden=(16, 8), mean=x.mean(0), std=x.std(0)).eval(), x


@pytest.mark.parametrize("exported", [False, True])
def test_linear_model_values_are_exact(exported, tmp_path):
    x = _data()
    model = Linear(W)
    if exported:
        model = _exported(model, len(W), tmp_path)
    bg = summarize_background(x, size=50, seed=1)
    a = explain_tabular(model, x[:100], background=bg, feature_names=list("abcde"))
    expected = W * (x[:100].astype(np.float64) - bg.data.astype(np.float64).mean(axis=0))
    np.testing.assert_allclose(a.values, expected, atol=1e-5)
    assert a.additivity_error < 1e-5
    np.testing.assert_allclose(a.base_values, W @ bg.data.astype(np.float64).mean(axis=0) + 0.25, atol=1e-5)


def test_global_importance_order_matches_weights_times_spread():
    x = _data(2000)
    a = explain_tabular(Linear(W), x, background=summarize_background(x, size=100), feature_names=list("abcde"))
    expected = [list("abcde")[j] for j in np.argsort(-np.abs(W * x.std(axis=0)), kind="stable")]
    assert list(a.global_importance()) == expected


def test_linear_model_matches_shap_kernel_explainer():
    x = _data(40)
    bg = summarize_background(x, size=20)
    a = explain_tabular(Linear(W), x[:10], background=bg)
    model = Linear(W)

    def f(rows: np.ndarray) -> np.ndarray:
        return model(torch.as_tensor(rows, dtype=torch.float32)).detach().double().numpy()

    explainer = shap.KernelExplainer(f, bg.data.astype(np.float64))  # 5 features: all coalitions are enumerated
    ref = explainer.shap_values(x[:10].astype(np.float64), silent=True)
    np.testing.assert_allclose(a.values, ref, atol=1e-5)
    np.testing.assert_allclose(a.base_values, explainer.expected_value, atol=1e-5)


@pytest.mark.parametrize("exported", [False, True])
def test_mlp_matches_shap_deep_explainer(mlp, exported, tmp_path):
    model, x = mlp
    module = _exported(model, x.shape[1], tmp_path) if exported else model
    bg = summarize_background(x, size=40)
    a = explain_tabular(module, x[:50], background=bg)

    class Column(nn.Module):  # DeepExplainer wants [n, outputs]
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, t):
            return self.m(t)[:, None]

    ref = shap.DeepExplainer(Column(), torch.tensor(bg.data)).shap_values(torch.tensor(x[:50]), check_additivity=False)
    np.testing.assert_allclose(a.values, np.asarray(ref).reshape(50, -1), atol=1e-5)
    assert a.additivity_error < 1e-5


def test_mlp_permutation_and_kernel_are_additive_and_close_to_exact(mlp):
    model, x = mlp
    bg = summarize_background(x, size=10)
    exact = explain_tabular(model, x[:3], background=bg, method="kernel")  # 5 features: KernelSHAP enumerates all
    perm = explain_tabular(model, x[:3], background=bg, method="permutation")
    for a in (exact, perm):
        assert a.additivity_error < 1e-3
    np.testing.assert_allclose(perm.values, exact.values, atol=5e-3)  # sampled permutations: close, not exact


def test_kmeans_background_weights_match_kernel_explainer(mlp):
    model, x = mlp
    bg = summarize_background(x, size=10, strategy="kmeans")
    assert bg.strategy == "kmeans" and not bg.uniform
    deep = explain_tabular(model, x[:5], background=bg)
    kernel = explain_tabular(model, x[:5], background=bg, method="kernel")
    np.testing.assert_allclose(deep.base_values, kernel.base_values, atol=1e-5)
    assert deep.additivity_error < 1e-5
    with pytest.raises(SettingsError, match="strategy='sample'"):
        explain_tabular(model, x[:5], background=bg, method="permutation")


def test_multiclass_output_index():
    w = np.array([[1.0, 0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0, 0.5]])
    lin = nn.Linear(5, 3)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w, dtype=torch.float32))
        lin.bias.zero_()
    x = _data(50)
    bg = summarize_background(x, size=10)
    a = explain_tabular(lin, x, background=bg, output_index=2)
    np.testing.assert_allclose(a.values, w[2] * (x - bg.data.mean(axis=0)), atol=1e-5)


def test_model_without_gradients_gets_clear_message():
    x = _data(20)
    with pytest.raises(ExplanationError) as info:
        explain_tabular(NoGrad(W), x, background=x[:5])
    assert str(info.value) == NO_GRADIENTS
    a = explain_tabular(NoGrad(W), x[:3], background=x[:5], method="permutation")
    np.testing.assert_allclose(a.values, W * (x[:3] - x[:5].mean(axis=0)), atol=1e-5)


def test_bad_input_messages():
    x = _data(20)
    with pytest.raises(SettingsError, match="available methods are deep, kernel, permutation"):
        explain_tabular(Linear(W), x, background=x, method="lime")
    with pytest.raises(ExplanationError, match="model takes 4 features but the data has 5"):
        explain_tabular(Linear(W), x, background=x[:, :4])
    with pytest.raises(ExplanationError, match="no rows to explain"):
        explain_tabular(Linear(W), x[:0], background=x)
