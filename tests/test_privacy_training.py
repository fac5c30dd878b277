"""DP-SGD training: the record matches the accountant, the budget holds, the model learns, inputs stay untouched."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from opacus.grad_sample import GradSampleModule
from opacus.optimizers import DPOptimizer
from torch import nn

from auditkit.errors import SettingsError
from auditkit.privacy.accounting import delta_warning, epsilon_spent
from auditkit.privacy.artifacts import load_dp_weights, save_dp_artifacts
from auditkit.privacy.clipping import FusedLinearClipper, fused_clipping_supported
from auditkit.privacy.sweep import privacy_utility_sweep
from auditkit.privacy.training import dp_train, poisson_batches
from auditkit.tabular import TabularMLP


def easy_data(n: int = 1200, f: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 0.3).astype(int)
    return X, y


@pytest.mark.filterwarnings("ignore:Full backward hook is firing")
@pytest.mark.parametrize("clip", [0.05, 1.0, 100.0])
def test_fused_clipping_equals_opacus(clip):
    torch.manual_seed(0)
    model = TabularMLP(5, hidden=(8, 4), mean=np.full(5, 0.3), std=np.full(5, 2.0))
    x, y = torch.randn(32, 5), (torch.rand(32) > 0.5).float()

    ref = GradSampleModule(copy.deepcopy(model), loss_reduction="sum")
    opt = DPOptimizer(torch.optim.SGD(ref.parameters(), lr=0.1), noise_multiplier=0.0, max_grad_norm=clip,
                      expected_batch_size=32, loss_reduction="sum")
    nn.BCEWithLogitsLoss(reduction="sum")(ref(x), y).backward()
    opt.pre_step()
    expected = [p.grad.clone() for p in ref.parameters()]

    clipper = FusedLinearClipper(model, clip)
    clipper.clipped_grad_sum(x, y, nn.BCEWithLogitsLoss(reduction="none"))
    clipper.close()
    for got, want in zip(model.parameters(), expected):
        torch.testing.assert_close(got.grad, want, rtol=1e-5, atol=1e-6)
    assert not model.net[0]._forward_hooks


def test_fused_training_equals_opacus_ghost_training(seed=1):
    # Same batches, same noise stream: the fused path reproduces Opacus' DP-SGD steps, not just the accounting.
    X, y = easy_data(300)
    model = TabularMLP(X.shape[1], hidden=(8, 8), mean=X.mean(0), std=X.std(0))
    runs = {mode: dp_train(model, X, y, target_epsilon=2.0, target_delta=1e-5, epochs=2, batch_size=100,
                           grad_sample_mode=mode, baseline=False, curve_points=1, seed=seed)
            for mode in ("fused", "ghost")}
    fused, ghost = runs["fused"].model.state_dict(), runs["ghost"].model.state_dict()
    for k in fused:
        torch.testing.assert_close(fused[k], ghost[k], rtol=1e-5, atol=1e-6)
    assert runs["fused"].epsilon == runs["ghost"].epsilon


def test_fused_supported_only_for_linear_stacks():
    assert fused_clipping_supported(TabularMLP(3))
    assert not fused_clipping_supported(nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 1)))


def test_poisson_batches_are_bernoulli_per_row():
    gen = torch.Generator().manual_seed(0)
    batches = list(poisson_batches(1_000, 0.05, 2_000, gen))
    sizes = np.array([len(b) for b in batches])
    assert sizes.mean() == pytest.approx(50, rel=0.02)
    assert sizes.var() == pytest.approx(1_000 * 0.05 * 0.95, rel=0.15)  # binomial, not fixed-size batches
    counts = np.bincount(torch.cat(batches).numpy(), minlength=1_000)
    assert counts.max() <= 1_000 and all(len(torch.unique(b)) == len(b) for b in batches[:50])
    # Every row, first and last included, joins about 5% of the batches (100 of 2,000; sd about 10).
    assert counts[:100].mean() == pytest.approx(100, rel=0.05) and counts[-100:].mean() == pytest.approx(100, rel=0.05)
    assert counts.min() > 50 and counts.max() < 150
    assert [len(b) for b in poisson_batches(7, 1.0, 2, gen)] == [7, 7]


@pytest.fixture(scope="module")
def trained():
    X, y = easy_data()
    torch.manual_seed(0)
    model = TabularMLP(X.shape[1], hidden=(16, 16), mean=X.mean(0), std=X.std(0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls: list[tuple[int, int]] = []
    result = dp_train(model, X[:1000], y[:1000], target_epsilon=2.0, target_delta=1e-5, epochs=3, batch_size=50,
                      lr=0.05, X_eval=X[1000:], y_eval=y[1000:], progress=lambda d, t: calls.append((d, t)))
    return model, before, result, calls, (X, y)


def test_recorded_epsilon_equals_accountant(trained):
    _, _, r, _, _ = trained
    assert r.sample_rate == pytest.approx(1 / 20) and r.steps == 60 and r.expected_batch_size == 50
    assert r.epsilon == pytest.approx(epsilon_spent(r.noise_multiplier, r.sample_rate, r.steps, delta=r.delta,
                                                    accountant=r.accountant), rel=1e-12)
    assert 2.0 - 0.05 < r.epsilon <= 2.0
    assert r.epsilon_curve[-1] == (60, pytest.approx(r.epsilon))
    assert [s for s, _ in r.epsilon_curve] == sorted(s for s, _ in r.epsilon_curve)


def test_model_learns_and_baseline_recorded(trained):
    _, _, r, _, _ = trained
    assert r.grad_sample_mode == "fused" and r.evaluated_on == "holdout"
    assert r.majority_accuracy < 0.7
    assert r.accuracy > r.majority_accuracy + 0.15
    assert r.baseline_accuracy > r.majority_accuracy + 0.15


def test_input_model_untouched_and_progress(trained):
    model, before, r, calls, _ = trained
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    assert r.model is not model
    assert calls[-1] == (120, 120) and len(calls) == 120


def test_ghost_mode_same_accounting(trained):
    _, _, r, _, (X, y) = trained
    torch.manual_seed(0)
    g = dp_train(TabularMLP(X.shape[1], hidden=(16, 16), mean=X.mean(0), std=X.std(0)), X[:1000], y[:1000],
                 target_epsilon=2.0, target_delta=1e-5, epochs=3, batch_size=50, lr=0.05, baseline=False,
                 grad_sample_mode="ghost", curve_points=1)
    assert g.grad_sample_mode == "ghost" and g.baseline_accuracy is None
    assert (g.noise_multiplier, g.sample_rate, g.steps) == (r.noise_multiplier, r.sample_rate, r.steps)
    assert g.epsilon == pytest.approx(r.epsilon, rel=1e-12)


def test_artifacts_round_trip(trained, tmp_path):
    _, _, r, _, (X, _) = trained
    paths = save_dp_artifacts(r, tmp_path)
    record = json.loads(paths["record"].read_text())
    assert record["dp_training"]["epsilon"] == r.epsilon
    assert record["dp_training"]["noise_multiplier"] == r.noise_multiplier
    assert record["model"]["hidden"] == "16,16"
    x = torch.from_numpy(X[:50])
    with torch.no_grad():
        want = r.model(x)
        torch.testing.assert_close(load_dp_weights(paths["weights"])(x), want)
        program = torch.export.load(str(paths["program"]))
        torch.testing.assert_close(program.module()(x), want)


def test_sweep_orders_targets_and_counts_progress():
    X, y = easy_data(600)
    calls: list[tuple[int, int]] = []
    s = privacy_utility_sweep(TabularMLP(X.shape[1], hidden=(8,)), X, y, targets=(2.0, 0.5), target_delta=1e-5,
                              epochs=1, batch_size=60, lr=0.05, progress=lambda d, t: calls.append((d, t)))
    assert [p.target_epsilon for p in s.points] == [0.5, 2.0]
    assert s.points[0].noise_multiplier > s.points[1].noise_multiplier
    assert all(p.epsilon <= p.target_epsilon for p in s.points)
    assert calls[-1] == (30, 30) and all(t == 30 for _, t in calls)
    assert 0.0 <= s.baseline_accuracy <= 1.0 and s.to_dict()["points"][1]["target_epsilon"] == 2.0


@pytest.mark.parametrize("kwargs,needle", [
    ({"target_epsilon": 0.0}, "Epsilon must be a finite number > 0"),
    ({"target_delta": 1.0}, "Delta must be in (0, 1)"),
    ({"epochs": 0}, "Epochs must be a whole number >= 1"),
    ({"batch_size": 10_000}, "Batch size must be between 1 and the number of training rows"),
    ({"grad_sample_mode": "magic"}, "choose one of auto, fused, ghost, hooks, functorch"),
])
def test_bad_settings(kwargs, needle):
    X, y = easy_data(100)
    args = {"target_epsilon": 1.0, "target_delta": 1e-3, "epochs": 1, "batch_size": 20} | kwargs
    with pytest.raises(SettingsError) as e:
        dp_train(TabularMLP(X.shape[1]), X, y, **args)
    assert needle in str(e.value)


def test_unsupported_layer_names_fix():
    X, y = easy_data(100)
    model = nn.Sequential(nn.Linear(X.shape[1], 4), nn.BatchNorm1d(4), nn.Linear(4, 1), nn.Flatten(0))
    with pytest.raises(SettingsError, match="GroupNorm"):
        dp_train(model, X, y, target_epsilon=1.0, target_delta=1e-3, epochs=1, batch_size=20)


def test_large_delta_is_flagged():
    X, y = easy_data(100)
    r = dp_train(TabularMLP(X.shape[1], hidden=(4,)), X, y, target_epsilon=1.0, target_delta=0.01, epochs=1,
                 batch_size=10, baseline=False, curve_points=1)
    assert any("not below 1 / training rows (0.01)" in w for w in r.warnings)
    assert delta_warning(1e-5, 100) is None
