"""Privacy-utility sweeps as Ray tasks: the same points and budgets as the local sweep, errors named, CLI."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from auditkit.cli import main
from auditkit.errors import SettingsError
from auditkit.privacy.sweep import privacy_utility_sweep, sweep_baseline
from auditkit.privacy.training import dp_train
from auditkit.tabular import TabularMLP

OPTIONS = dict(targets=(2.0, 0.5), target_delta=1e-5, epochs=1, batch_size=60, lr=0.05)


def easy_data(n: int = 600, f: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f)).astype(np.float32)
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0.3).astype(int)


@pytest.fixture(scope="module")
def local_and_ray(ray_cluster):
    from auditkit.scale.sweep import privacy_utility_sweep_ray

    X, y = easy_data()
    model = TabularMLP(X.shape[1], hidden=(8,), mean=X.mean(0), std=X.std(0))
    local = privacy_utility_sweep(model, X, y, **OPTIONS)
    calls: list[tuple[int, int]] = []
    runs: list = []
    remote = privacy_utility_sweep_ray(model, X, y, progress=lambda d, t: calls.append((d, t)), on_run=runs.append,
                                       **OPTIONS)
    return local, remote, calls, runs


def test_ray_sweep_equals_local_sweep(local_and_ray):
    local, remote, _, _ = local_and_ray
    assert remote.to_dict() == local.to_dict()
    assert [p.target_epsilon for p in remote.points] == [0.5, 2.0]


def test_each_point_carries_its_own_budget(local_and_ray):
    _, remote, _, _ = local_and_ray
    strict, loose = remote.points
    assert strict.noise_multiplier > loose.noise_multiplier
    for p in remote.points:
        assert p.epsilon <= p.target_epsilon and p.epsilon > 0.9 * p.target_epsilon
        assert (p.delta, p.accountant, p.steps, p.sample_rate, p.max_grad_norm) == (1e-5, "rdp", 10, 0.1, 1.0)
    # The point's record is enough to re-check its epsilon with Opacus' accountant.
    from opacus.accountants import RDPAccountant

    acc = RDPAccountant()
    acc.history = [(strict.noise_multiplier, strict.sample_rate, strict.steps)]
    assert acc.get_epsilon(delta=strict.delta) == pytest.approx(strict.epsilon, rel=1e-12)


def test_progress_counts_steps_as_runs_finish(local_and_ray):
    _, _, calls, runs = local_and_ray
    assert sorted(d for d, _ in calls) == [10, 20, 30] and all(t == 30 for _, t in calls)
    assert len(runs) == 3


def test_baseline_run_equals_dp_train_baseline():
    X, y = easy_data()
    model = TabularMLP(X.shape[1], hidden=(8,), mean=X.mean(0), std=X.std(0))
    ref = dp_train(model, X[:500], y[:500], target_epsilon=1.0, target_delta=1e-5, epochs=2, batch_size=50,
                   lr=0.05, seed=3, X_eval=X[500:], y_eval=y[500:], curve_points=1)
    base = sweep_baseline(model, X[:500], y[:500], epochs=2, batch_size=50, lr=0.05, seed=3, X_eval=X[500:],
                          y_eval=y[500:], target_delta=1e-5)
    assert base.accuracy == ref.baseline_accuracy and base.majority_accuracy == ref.majority_accuracy
    assert (base.evaluated_on, base.steps) == ("holdout", ref.steps)


def test_task_errors_come_back_as_settings_errors(ray_cluster):
    from auditkit.scale.sweep import privacy_utility_sweep_ray

    X, y = easy_data(100)
    with pytest.raises(SettingsError, match="Epsilon must be a finite number > 0"):
        privacy_utility_sweep_ray(TabularMLP(X.shape[1], hidden=(4,)), X, y, targets=(1.0, -1.0),
                                  target_delta=1e-3, epochs=1, batch_size=20)


def test_sweep_cli_ray_and_local_write_the_same_points(ray_cluster, tmp_path, capsys):
    X, y = easy_data(300)
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])]).assign(label=y)
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    records, printed, errors = {}, {}, {}
    for engine, quiet in (("ray", []), ("local", ["--quiet"])):
        code = main(["sweep", "--data", str(data), "--target", "label", "--epsilons", "4,1", "--delta", "1e-4",
                     "--epochs", "1", "--batch-size", "60", "--hidden", "8", "--out", str(tmp_path / engine),
                     "--engine", engine, *quiet])
        assert code == 0
        records[engine] = json.loads((tmp_path / engine / "sweep.json").read_text())
        out = capsys.readouterr()
        printed[engine], errors[engine] = out.out.splitlines(), out.err
    # Runs are reported as they finish, each with its own epsilon.
    assert "trained epsilon 1: epsilon " in errors["ray"] and "trained without privacy" in errors["ray"]
    assert records["ray"]["sweep"] == records["local"]["sweep"] and records["ray"]["engine"] == "ray"
    assert records["ray"]["data"]["train_rows"] + records["ray"]["data"]["eval_rows"] == 300
    sweep = records["ray"]["sweep"]
    assert [p["target_epsilon"] for p in sweep["points"]] == [1.0, 4.0] and sweep["evaluated_on"] == "holdout"
    for p in sweep["points"]:
        assert 0.9 * p["target_epsilon"] < p["epsilon"] <= p["target_epsilon"] and p["delta"] == 1e-4
        assert p["steps"] == round(1 / p["sample_rate"]) and p["noise_multiplier"] > 0
    lines = printed["ray"]
    assert lines[-1].endswith("sweep.json") and "non-private accuracy" in lines[-3]
    assert lines[-2] == "; ".join(f"epsilon {p['target_epsilon']:g}: accuracy {p['accuracy']:.3f}"
                                  for p in sweep["points"])


def test_sweep_cli_rejects_bad_targets(tmp_path, capsys):
    data = tmp_path / "d.csv"
    pd.DataFrame({"a": [0.1, 0.2, 0.3, 0.4], "label": [0, 1, 0, 1]}).to_csv(data, index=False)
    code = main(["sweep", "--data", str(data), "--target", "label", "--epsilons", "1,x", "--delta", "1e-3",
                 "--epochs", "1", "--out", str(tmp_path / "o")])
    assert code == 2 and "--epsilons" in capsys.readouterr().err
