"""Privacy-utility sweep: accuracy of the same recipe trained at several epsilon targets, and without DP.

Each run is one call: `sweep_point` (one epsilon target) or `sweep_baseline` (the non-private run). The local
sweep calls them in turn; the Ray engine (`auditkit.scale.sweep`) calls the same functions as parallel tasks,
so both engines give the same numbers.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Literal, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader

from auditkit.access import current_principal, require
from auditkit.errors import SettingsError
from auditkit.privacy.training import (Progress, _accuracy, _as_tensors, _evaluation, _step_ticker, _targets,
                                       _train_nonprivate, dp_train)

DEFAULT_TARGETS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class SweepPoint:
    """One trained target with its own privacy record: the epsilon asked for and spent at `delta`, the noise
    multiplier, clip norm, sample rate and steps that produced it (enough to re-check the epsilon), and the
    accuracy reached."""

    target_epsilon: float
    epsilon: float
    noise_multiplier: float
    accuracy: float
    delta: float
    accountant: str
    max_grad_norm: float
    sample_rate: float
    steps: int


@dataclass(frozen=True)
class SweepBaseline:
    """The same recipe trained without clipping or noise, and the majority-class accuracy for scale."""

    accuracy: float
    majority_accuracy: float
    evaluated_on: Literal["holdout", "train"]
    steps: int


@dataclass(frozen=True)
class SweepResult:
    """Accuracy against epsilon; `baseline_accuracy` is the same recipe without clipping or noise."""

    points: tuple[SweepPoint, ...]
    baseline_accuracy: float
    majority_accuracy: float
    delta: float
    accountant: str
    epochs: int
    evaluated_on: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "points": [vars(p) for p in self.points],
            "baseline_accuracy": self.baseline_accuracy,
            "majority_accuracy": self.majority_accuracy,
            "delta": self.delta,
            "accountant": self.accountant,
            "epochs": self.epochs,
            "evaluated_on": self.evaluated_on,
        }


def sweep_targets(targets: Sequence[float]) -> list[float]:
    """The targets in increasing order; a SettingsError when there are none."""
    if not targets:
        raise SettingsError("The sweep needs at least one target epsilon (e.g. 0.5, 1, 2, 4, 8).")
    return sorted(float(t) for t in targets)


def sweep_point(model: nn.Module, X: Any, y: Any, *, target: float, target_delta: float, epochs: int,
                progress: Progress | None = None, **train_options: Any) -> SweepPoint:
    """Train a copy of `model` with `dp_train` to (`target`, `target_delta`) and return its sweep point."""
    r = dp_train(model, X, y, target_epsilon=target, target_delta=target_delta, epochs=epochs, baseline=False,
                 curve_points=1, progress=progress, **train_options)
    return SweepPoint(target_epsilon=r.target_epsilon, epsilon=r.epsilon, noise_multiplier=r.noise_multiplier,
                      accuracy=r.accuracy, delta=r.delta, accountant=r.accountant, max_grad_norm=r.max_grad_norm,
                      sample_rate=r.sample_rate, steps=r.steps)


def sweep_baseline(model: nn.Module, X: Any, y: Any, *, epochs: int, batch_size: int = 256, lr: float = 1e-2,
                   optimizer: str = "adam", seed: int = 0, X_eval: Any = None, y_eval: Any = None,
                   progress: Progress | None = None, **dp_options: Any) -> SweepBaseline:
    """Train a copy of `model` with `dp_train`'s non-private recipe (the same Poisson batches, steps, optimizer
    and seed, without clipping or noise); `dp_options` (target_delta, accountant, max_grad_norm, ...) only
    concern the private runs and are ignored here."""
    x, t = _as_tensors(X, y)
    base = copy.deepcopy(model)
    with torch.no_grad():
        binary = base.eval()(x[:2]).dim() == 1
    batches_per_epoch = len(DataLoader(range(len(x)), batch_size=batch_size))
    steps = epochs * batches_per_epoch
    torch.manual_seed(seed)
    _train_nonprivate(base, x, _targets(t, binary), binary=binary, sample_rate=1 / batches_per_epoch, steps=steps,
                      optimizer=optimizer, lr=lr, seed=seed, tick=_step_ticker(steps, progress))
    x_eval, t_eval, evaluated_on, majority = _evaluation(x, t, X_eval, y_eval)
    return SweepBaseline(accuracy=_accuracy(base, x_eval, t_eval, binary), majority_accuracy=majority,
                         evaluated_on=evaluated_on, steps=steps)


def sweep_result(points: Sequence[SweepPoint], baseline: SweepBaseline, *, target_delta: float,
                 epochs: int) -> SweepResult:
    """Assemble the sweep from its runs (points in increasing target order)."""
    ordered = sorted(points, key=lambda p: p.target_epsilon)
    return SweepResult(points=tuple(ordered), baseline_accuracy=float(baseline.accuracy),
                       majority_accuracy=baseline.majority_accuracy, delta=float(target_delta),
                       accountant=ordered[0].accountant, epochs=epochs, evaluated_on=baseline.evaluated_on)


def privacy_utility_sweep(model: nn.Module, X: Any, y: Any, *, targets: Sequence[float] = DEFAULT_TARGETS,
                          target_delta: float, epochs: int, progress: Progress | None = None,
                          **train_options: Any) -> SweepResult:
    """Train a copy of `model` once per target epsilon (plus one non-private run) with `dp_train`'s recipe.

    `train_options` are passed to `dp_train` (batch_size, lr, accountant, X_eval, y_eval, ...).
    `progress(done, total)` counts training steps over the whole sweep. The acting principal needs the role to run
    audits (checked before the first run).
    """
    require(current_principal(), "run")
    ordered = sweep_targets(targets)
    offset = 0
    total = 0

    def forward(done: int, run_total: int) -> None:
        nonlocal total
        if total == 0:
            total = run_total * (len(ordered) + 1)  # every run takes the same number of steps
        if progress is not None:
            progress(offset + done, total)

    points = []
    for target in ordered:
        point = sweep_point(model, X, y, target=target, target_delta=target_delta, epochs=epochs, progress=forward,
                            **train_options)
        offset += point.steps
        points.append(point)
    baseline = sweep_baseline(model, X, y, epochs=epochs, progress=forward, **train_options)
    return sweep_result(points, baseline, target_delta=target_delta, epochs=epochs)

