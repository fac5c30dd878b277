"""Privacy accounting for DP-SGD (Poisson-subsampled Gaussian mechanism), delegated to Opacus' accountants.

Pure functions: the same (noise multiplier, sample rate, steps, delta, accountant) always gives the same epsilon,
so a privacy record can be re-checked from its numbers alone.
"""
from __future__ import annotations

import math
import warnings
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator, Literal, get_args

import numpy as np
from opacus.accountants import create_accountant
from opacus.accountants.utils import get_noise_multiplier

from auditkit.errors import SettingsError

Accountant = Literal["rdp", "prv", "gdp"]
ACCOUNTANTS: tuple[str, ...] = get_args(Accountant)

ACCOUNTANT_NOTES: dict[str, str] = {
    "rdp": "Rényi DP accountant (Mironov 2017): a safe upper bound, slightly loose.",
    "prv": "Privacy random variable accountant (Gopi et al. 2021): numerically tight upper bound.",
    "gdp": "Gaussian DP accountant (central-limit approximation): experimental, can underestimate epsilon.",
}

_MAX_NOISE = 1e6


def check_accountant(accountant: str) -> str:
    """Return `accountant` if it is one Opacus supports, else raise SettingsError naming the choices."""
    if accountant not in ACCOUNTANTS:
        raise SettingsError(f"Unknown accountant {accountant!r}: choose one of {', '.join(ACCOUNTANTS)}.")
    return accountant


def check_sample_rate(sample_rate: float) -> float:
    if not (isinstance(sample_rate, (int, float)) and 0 < sample_rate <= 1) or math.isnan(sample_rate):
        raise SettingsError(f"Sample rate must be in (0, 1] (batch size / dataset size); got {sample_rate}.")
    return float(sample_rate)


def check_steps(steps: int) -> int:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise SettingsError(f"Steps must be a whole number >= 1; got {steps}.")
    return steps


def check_delta(delta: float) -> float:
    if not (isinstance(delta, (int, float)) and 0 < delta < 1):
        raise SettingsError(
            f"Delta must be in (0, 1), usually well below 1 / number of training rows (e.g. 1e-5); got {delta}."
        )
    return float(delta)


def check_epsilon(epsilon: float) -> float:
    if not (isinstance(epsilon, (int, float)) and 0 < epsilon < math.inf):
        raise SettingsError(f"Epsilon must be a finite number > 0 (e.g. 1, 3 or 8); got {epsilon}.")
    return float(epsilon)


def delta_warning(delta: float, n_rows: int) -> str | None:
    """A caution when delta is not well below 1 / number of rows (such a delta allows leaking whole records)."""
    if n_rows > 0 and delta >= 1 / n_rows:
        return (f"delta {delta:g} is not below 1 / training rows ({1 / n_rows:.3g}): such a delta allows leaking "
                "whole records. Fix: use a delta below 1 / rows (e.g. 1e-5).")
    return None


def check_noise_multiplier(noise_multiplier: float) -> float:
    if not (isinstance(noise_multiplier, (int, float)) and 0 < noise_multiplier <= _MAX_NOISE):
        raise SettingsError(f"Noise multiplier must be in (0, {_MAX_NOISE:g}]; got {noise_multiplier}.")
    return float(noise_multiplier)


@contextmanager
def quiet_accountants() -> Iterator[None]:
    """Silence two Opacus notices: GDP's experimental caveat (carried in ACCOUNTANT_NOTES instead) and RDP's
    "optimal order is the largest alpha" (the epsilon is still a valid upper bound); and numpy's log(0) notice
    from the PRV accountant at sample rate 1 (handled there by masking)."""
    with warnings.catch_warnings(), np.errstate(divide="ignore"):
        warnings.filterwarnings("ignore", message="GDP accounting is experimental")
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        yield


def _epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str) -> float:
    with quiet_accountants():
        acc = create_accountant(mechanism=accountant)
        acc.history = [(noise_multiplier, sample_rate, steps)]
        return float(acc.get_epsilon(delta=delta))


def epsilon_spent(noise_multiplier: float, sample_rate: float, steps: int, *, delta: float,
                  accountant: Accountant = "rdp") -> float:
    """Epsilon after `steps` DP-SGD steps with Gaussian noise `noise_multiplier` and Poisson rate `sample_rate`."""
    return _epsilon(check_noise_multiplier(noise_multiplier), check_sample_rate(sample_rate), check_steps(steps),
                    check_delta(delta), check_accountant(accountant))


def epsilon_curve(noise_multiplier: float, sample_rate: float, steps: int, *, delta: float,
                  accountant: Accountant = "rdp", points: int = 25) -> list[tuple[int, float]]:
    """Epsilon spent after each of up to `points` evenly spaced step counts (the last one is `steps`)."""
    epsilon_spent(noise_multiplier, sample_rate, steps, delta=delta, accountant=accountant)  # validates
    n = max(1, min(points, steps))
    marks = sorted({max(1, round(steps * (i + 1) / n)) for i in range(n)})
    return [(t, _epsilon(noise_multiplier, sample_rate, t, delta, accountant)) for t in marks]


@lru_cache(maxsize=512)
def _noise(epsilon: float, sample_rate: float, steps: int, delta: float, accountant: str, tolerance: float) -> float:
    with quiet_accountants():
        return float(get_noise_multiplier(target_epsilon=epsilon, target_delta=delta, sample_rate=sample_rate,
                                          steps=steps, accountant=accountant, epsilon_tolerance=tolerance))


def noise_for_epsilon(epsilon: float, sample_rate: float, steps: int, *, delta: float,
                      accountant: Accountant = "rdp", epsilon_tolerance: float = 0.01) -> float:
    """Smallest noise multiplier (to `epsilon_tolerance`) whose epsilon after `steps` steps is <= `epsilon`.

    Opacus' `get_noise_multiplier` binary search, so training with `make_private_with_epsilon` finds the same value.
    """
    check_epsilon(epsilon)
    check_sample_rate(sample_rate)
    check_steps(steps)
    check_delta(delta)
    check_accountant(accountant)
    try:
        return _noise(float(epsilon), float(sample_rate), steps, float(delta), accountant, float(epsilon_tolerance))
    except ValueError as e:
        raise SettingsError(
            f"No noise multiplier up to {_MAX_NOISE:g} reaches epsilon {epsilon} in {steps} steps at sample rate "
            f"{sample_rate}: raise epsilon, lower the sample rate or train fewer steps."
        ) from e
