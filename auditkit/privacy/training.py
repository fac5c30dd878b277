"""DP-SGD training of tabular models with Opacus, with the privacy record a reviewer needs.

The model passed in is never trained: a deep copy is. Batches are drawn by Poisson sampling (each row joins each
step's batch independently with probability q), as the accountants assume; the sampler works on tensors, so no
per-row Python collation is done. Noise, clipping bookkeeping and accounting are Opacus' `PrivacyEngine`.
"""
from __future__ import annotations

import copy
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Literal, get_args

import numpy as np
import torch
from opacus import PrivacyEngine
from opacus.accountants import IAccountant, create_accountant
from opacus.validators import ModuleValidator
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from auditkit.access import current_principal, require
from auditkit.errors import SettingsError
from auditkit.privacy.accounting import (
    Accountant, check_accountant, check_delta, check_epsilon, delta_warning, epsilon_curve, noise_for_epsilon, quiet_accountants,
)
from auditkit.privacy.clipping import FusedLinearClipper, fused_clipping_supported
from auditkit.worker.codec import transferable

GradSampleMode = Literal["auto", "fused", "ghost", "hooks", "functorch"]
Optimizer = Literal["adam", "sgd"]
Progress = Callable[[int, int], None]


@transferable
@dataclass(frozen=True)
class DPResult:
    """A DP-trained model and its privacy record (everything needed to re-check the epsilon)."""

    model: Any = field(repr=False, compare=False)  # the module; its state dict (arrays) once it left the worker
    epsilon: float
    target_epsilon: float
    delta: float
    accountant: str
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps: int
    epochs: int
    expected_batch_size: int
    n_train: int
    n_features: int
    grad_sample_mode: str
    epsilon_curve: tuple[tuple[int, float], ...]
    accuracy: float
    baseline_accuracy: float | None
    majority_accuracy: float
    evaluated_on: Literal["holdout", "train"]
    seconds: float
    baseline_seconds: float | None
    optimizer: str
    lr: float
    seed: int
    sampling: str = "poisson"
    warnings: tuple[str, ...] = ()
    trainable_layers: int = 0
    trained_modules: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The privacy record as plain JSON (the model is left out)."""
        d = {k: v for k, v in asdict(self).items() if k != "model"}
        d["epsilon_curve"] = [{"step": s, "epsilon": e} for s, e in self.epsilon_curve]
        d["warnings"] = list(self.warnings)
        d["trained_modules"] = list(self.trained_modules)
        return d


def poisson_batches(n: int, sample_rate: float, steps: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Row indices of `steps` Poisson-sampled batches: each row is in each batch with probability `sample_rate`.

    Exact and O(batch) per step: in a sequence of independent Bernoulli(q) trials the gaps between successes
    are independent Geometric(q) variables, so the chosen rows are the cumulative sums of geometric draws below n.
    """
    if sample_rate >= 1:
        for _ in range(steps):
            yield torch.arange(n)
        return
    draws = int(n * sample_rate + 6 * math.sqrt(n * sample_rate) + 16)
    for _ in range(steps):
        positions = torch.empty(draws, dtype=torch.float64).geometric_(sample_rate, generator=generator).cumsum(0)
        while positions[-1] <= n:
            more = torch.empty(draws, dtype=torch.float64).geometric_(sample_rate, generator=generator)
            positions = torch.cat([positions, positions[-1] + more.cumsum(0)])
        yield (positions[positions <= n] - 1).long()


def _as_tensors(X: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor(np.asarray(X, dtype=np.float32))
    t = torch.tensor(np.asarray(y))
    if x.dim() != 2 or len(x) != len(t):
        raise SettingsError(f"Training data must be X [rows, features] and y [rows]; got {tuple(x.shape)} and "
                            f"{tuple(t.shape)}.")
    return x, t


def _loss(binary: bool, reduction: str) -> nn.Module:
    return nn.BCEWithLogitsLoss(reduction=reduction) if binary else nn.CrossEntropyLoss(reduction=reduction)


def _targets(y: torch.Tensor, binary: bool) -> torch.Tensor:
    return y.to(torch.float32) if binary else y.to(torch.long)


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, binary: bool) -> float:
    model.eval()
    with torch.no_grad():
        out = model(x)
    pred = (out > 0).long() if binary else out.argmax(1)
    return float((pred == y.long()).float().mean())


def _evaluation(x: torch.Tensor, t: torch.Tensor, X_eval: Any, y_eval: Any
                ) -> tuple[torch.Tensor, torch.Tensor, Literal["holdout", "train"], float]:
    """The rows accuracy is measured on (the held-out rows when given, else the training rows), which they are,
    and the accuracy of always predicting their most common class."""
    x_eval, t_eval, evaluated_on = (*_as_tensors(X_eval, y_eval), "holdout") if X_eval is not None else (x, t, "train")
    counts = np.bincount(t_eval.long().numpy())
    return x_eval, t_eval, evaluated_on, float(counts.max() / counts.sum())


def _step_ticker(total: int, progress: Progress | None) -> Callable[[], None]:
    """A callback to call after every training step; reports (steps done, `total`) to `progress`."""
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    return tick


def _make_optimizer(kind: str, params: Any, lr: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr) if kind == "adam" else torch.optim.SGD(params, lr=lr, momentum=0.9)


def _check_compatible(model: nn.Module) -> None:
    """Raise SettingsError naming the layers Opacus cannot handle (`model` in training mode)."""
    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        names = "; ".join(str(e) for e in errors[:3])
        raise SettingsError(f"Opacus cannot train this model privately: {names}. Fix: replace the listed layers "
                            "(e.g. BatchNorm with GroupNorm or LayerNorm), or apply "
                            "opacus.validators.ModuleValidator.fix(model) before training.")


def _train_nonprivate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, binary: bool, sample_rate: float,
                      steps: int, optimizer: str, lr: float, seed: int, tick: Callable[[], None]) -> None:
    opt = _make_optimizer(optimizer, model.parameters(), lr)
    loss_fn = _loss(binary, "mean")
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for idx in poisson_batches(len(x), sample_rate, steps, gen):
        opt.zero_grad(set_to_none=True)
        if len(idx):
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
        tick()


def _resolve_mode(model: nn.Module, mode: str) -> str:
    if mode not in get_args(GradSampleMode):
        raise SettingsError(f"Unknown grad_sample_mode {mode!r}: choose one of {', '.join(get_args(GradSampleMode))}.")
    if mode == "auto":
        return "fused" if fused_clipping_supported(model) else "ghost"
    if mode == "fused" and not fused_clipping_supported(model):
        raise SettingsError("grad_sample_mode='fused' needs every trainable layer to be nn.Linear. "
                            "Fix: use grad_sample_mode='ghost' (or 'auto').")
    return mode


def _train_opacus(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, binary: bool, batch_size: int,
                  steps: int, noise_multiplier: float, max_grad_norm: float, accountant: str, mode: str,
                  optimizer: str, lr: float, seed: int, tick: Callable[[], None]) -> IAccountant:
    """DP-SGD with Opacus' `make_private` (per-sample gradients by `mode`); returns the stepped accountant."""
    with warnings.catch_warnings(), quiet_accountants():
        warnings.filterwarnings("ignore", message="Secure RNG turned off")
        engine = PrivacyEngine(accountant=accountant)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size)
    model.train()
    criterion = _loss(binary, "mean")
    with quiet_accountants():
        wrapped = engine.make_private(module=model, optimizer=_make_optimizer(optimizer, model.parameters(), lr),
                                      data_loader=loader, criterion=criterion, noise_multiplier=noise_multiplier,
                                      max_grad_norm=max_grad_norm, poisson_sampling=True, grad_sample_mode=mode,
                                      noise_generator=torch.Generator().manual_seed(seed + 1))
    if mode == "ghost":
        gsm, dp_opt, criterion, _ = wrapped
    else:
        gsm, dp_opt, _ = wrapped
    gen = torch.Generator().manual_seed(seed)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            for idx in poisson_batches(len(x), 1 / len(loader), steps, gen):
                dp_opt.zero_grad(set_to_none=True)
                criterion(gsm(x[idx]), y[idx]).backward()
                dp_opt.step()
                tick()
    finally:
        gsm._close()
    return engine.accountant


def _train_fused(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, binary: bool, batch_size: int,
                 steps: int, noise_multiplier: float, max_grad_norm: float, accountant: str, optimizer: str,
                 lr: float, seed: int, tick: Callable[[], None]) -> IAccountant:
    """DP-SGD with fused linear clipping; the noisy step is Opacus' DPOptimizer arithmetic, without its per-step
    bookkeeping: grad = (clipped sum + N(0, (sigma C)^2)) / expected batch size, noise drawn per parameter in
    order from the same seeded generator. Tests check equality with Opacus' ghost-clipping step."""
    batches = len(DataLoader(range(len(x)), batch_size=batch_size))
    sample_rate = 1 / batches
    expected_batch_size = int(len(x) * sample_rate)
    with quiet_accountants():
        acc = create_accountant(mechanism=accountant)
    opt = _make_optimizer(optimizer, model.parameters(), lr)
    params = [p for group in opt.param_groups for p in group["params"] if p.requires_grad]
    noise_gen = torch.Generator().manual_seed(seed + 1)
    std = noise_multiplier * max_grad_norm
    per_sample = _loss(binary, "none")
    gen = torch.Generator().manual_seed(seed)
    model.train()
    clipper = FusedLinearClipper(model, max_grad_norm)
    try:
        for idx in poisson_batches(len(x), sample_rate, steps, gen):
            opt.zero_grad(set_to_none=True)
            clipper.clipped_grad_sum(x[idx], y[idx], per_sample)
            for p in params:
                noise = torch.normal(mean=0, std=std, size=p.shape, generator=noise_gen, dtype=p.dtype)
                p.grad = (p.grad + noise) / expected_batch_size
            opt.step()
            acc.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate)
            tick()
    finally:
        clipper.close()
    return acc


def dp_train(model: nn.Module, X: Any, y: Any, *, target_epsilon: float, target_delta: float, epochs: int,
             max_grad_norm: float = 1.0, batch_size: int = 256, accountant: Accountant = "rdp",
             lr: float = 1e-2, optimizer: Optimizer = "adam", seed: int = 0,
             grad_sample_mode: GradSampleMode = "auto", X_eval: Any = None, y_eval: Any = None,
             baseline: bool = True, curve_points: int = 25, progress: Progress | None = None) -> DPResult:
    """Train a deep copy of `model` with DP-SGD to (`target_epsilon`, `target_delta`) after `epochs` epochs.

    `model` maps float32 [n, f] to logits [n] (binary, y in {0, 1}) or [n, k] (y class indices).
    The noise multiplier is Opacus' `get_noise_multiplier` search for the exact number of steps taken
    (epochs x batches per epoch) at sample rate q = 1 / batches per epoch. `grad_sample_mode="auto"` uses fused
    linear clipping for all-linear models and Opacus ghost clipping otherwise. `baseline=True` also trains the
    same recipe without clipping or noise. Accuracy is on (`X_eval`, `y_eval`) when given, else on the training
    rows. `progress(done, total)` is called after every step. The acting principal needs the role to run audits.
    """
    require(current_principal(), "run")
    check_epsilon(target_epsilon)
    check_delta(target_delta)
    check_accountant(accountant)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise SettingsError(f"Epochs must be a whole number >= 1; got {epochs}.")
    if not (isinstance(max_grad_norm, (int, float)) and max_grad_norm > 0):
        raise SettingsError(f"max_grad_norm must be > 0 (typical: 0.1 to 10); got {max_grad_norm}.")
    if optimizer not in get_args(Optimizer):
        raise SettingsError(f"Unknown optimizer {optimizer!r}: choose one of {', '.join(get_args(Optimizer))}.")
    x, t = _as_tensors(X, y)
    n = len(x)
    if not (isinstance(batch_size, int) and 1 <= batch_size <= n):
        raise SettingsError(f"Batch size must be between 1 and the number of training rows ({n}); got {batch_size}.")
    caution = delta_warning(target_delta, n)
    notes = [caution] if caution else []

    base_model = copy.deepcopy(model)
    private = copy.deepcopy(model).train()
    _check_compatible(private)
    with torch.no_grad():
        out = private.eval()(x[:2])
    binary = out.dim() == 1
    y_train = _targets(t, binary)
    mode = _resolve_mode(private, grad_sample_mode)
    batches_per_epoch = len(DataLoader(range(n), batch_size=batch_size))
    sample_rate, steps = 1 / batches_per_epoch, epochs * batches_per_epoch
    noise = noise_for_epsilon(target_epsilon, sample_rate, steps, delta=target_delta, accountant=accountant)

    tick = _step_ticker(steps * (2 if baseline else 1), progress)
    torch.manual_seed(seed)
    start = time.perf_counter()
    options = dict(binary=binary, batch_size=batch_size, steps=steps, noise_multiplier=noise,
                   max_grad_norm=max_grad_norm, accountant=accountant, optimizer=optimizer, lr=lr, seed=seed,
                   tick=tick)
    if mode == "fused":
        acc = _train_fused(private, x, y_train, **options)
    else:
        acc = _train_opacus(private, x, y_train, mode=mode, **options)
    seconds = time.perf_counter() - start
    with quiet_accountants():
        epsilon = float(acc.get_epsilon(delta=target_delta))

    x_eval, t_eval, evaluated_on, majority = _evaluation(x, t, X_eval, y_eval)
    accuracy = _accuracy(private, x_eval, t_eval, binary)

    baseline_accuracy = baseline_seconds = None
    if baseline:
        torch.manual_seed(seed)
        start = time.perf_counter()
        _train_nonprivate(base_model, x, y_train, binary=binary, sample_rate=sample_rate, steps=steps,
                          optimizer=optimizer, lr=lr, seed=seed, tick=tick)
        baseline_seconds = time.perf_counter() - start
        baseline_accuracy = _accuracy(base_model, x_eval, t_eval, binary)

    curve = epsilon_curve(noise, sample_rate, steps, delta=target_delta, accountant=accountant, points=curve_points)
    return DPResult(
        model=private.eval(), epsilon=epsilon, target_epsilon=float(target_epsilon), delta=float(target_delta),
        accountant=accountant, noise_multiplier=noise, max_grad_norm=float(max_grad_norm), sample_rate=sample_rate,
        steps=steps, epochs=epochs, expected_batch_size=int(n * sample_rate), n_train=n, n_features=x.shape[1],
        grad_sample_mode=mode, epsilon_curve=tuple(curve), accuracy=accuracy, baseline_accuracy=baseline_accuracy,
        majority_accuracy=majority, evaluated_on=evaluated_on, seconds=seconds, baseline_seconds=baseline_seconds,
        optimizer=optimizer, lr=float(lr), seed=seed, warnings=tuple(notes),
    )
