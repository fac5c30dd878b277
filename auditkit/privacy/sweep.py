"""Privacy-utility sweep: accuracy of the same recipe trained at several epsilon targets, and without DP."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from torch import nn

from auditkit.errors import SettingsError
from auditkit.privacy.training import DPResult, Progress, dp_train

DEFAULT_TARGETS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)


@dataclass(frozen=True)
class SweepPoint:
    """One trained target: the epsilon asked for, the epsilon spent and the accuracy reached."""

    target_epsilon: float
    epsilon: float
    noise_multiplier: float
    accuracy: float


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


def privacy_utility_sweep(model: nn.Module, X: Any, y: Any, *, targets: Sequence[float] = DEFAULT_TARGETS,
                          target_delta: float, epochs: int, progress: Progress | None = None,
                          **train_options: Any) -> SweepResult:
    """Train a copy of `model` once per target epsilon (plus one non-private run) with `dp_train`'s recipe.

    `train_options` are passed to `dp_train` (batch_size, lr, accountant, X_eval, y_eval, ...).
    `progress(done, total)` counts training steps over the whole sweep.
    """
    if not targets:
        raise SettingsError("The sweep needs at least one target epsilon (e.g. 0.5, 1, 2, 4, 8).")
    ordered = sorted(float(t) for t in targets)
    results: list[DPResult] = []
    offset = 0
    total = 0

    def forward(done: int, run_total: int) -> None:
        nonlocal total
        if total == 0:
            # Every run takes the same number of steps; the first also trains the non-private baseline.
            total = run_total // 2 * (len(ordered) + 1)
        if progress is not None:
            progress(offset + done, total)

    for i, target in enumerate(ordered):
        result = dp_train(model, X, y, target_epsilon=target, target_delta=target_delta, epochs=epochs,
                          baseline=i == 0, curve_points=1, progress=forward, **train_options)
        offset += result.steps * (2 if i == 0 else 1)
        results.append(result)
    first = results[0]
    return SweepResult(
        points=tuple(SweepPoint(r.target_epsilon, r.epsilon, r.noise_multiplier, r.accuracy) for r in results),
        baseline_accuracy=float(first.baseline_accuracy), majority_accuracy=first.majority_accuracy,
        delta=float(target_delta), accountant=first.accountant, epochs=epochs, evaluated_on=first.evaluated_on,
    )
