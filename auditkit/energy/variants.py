"""Efficiency variants: the loaded model against cheaper versions of itself (dynamic int8, fp16/bf16 on GPU,
and any extra variant such as a DP-trained or mitigated model), each scored on accuracy, the main fairness
disparity, kWh per 1,000 predictions and latency. The loaded model is never mutated: every variant is a copy.
"""
from __future__ import annotations

import copy
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from auditkit.context import AuditContext
from auditkit.energy.meter import EnergyMeter
from auditkit.errors import SettingsError
from auditkit.families.registry import get
from auditkit.worker.ops import worker_op

_NO_MODEL = "Efficiency variants need a loaded model; this audit has predictions only. Upload a checkpoint."


@dataclass(frozen=True)
class Variant:
    """How to build a variant from the loaded module and where it runs."""

    name: str
    description: str
    device: str
    dtype: torch.dtype
    build: Callable[[nn.Module], nn.Module]


def _same(module: nn.Module) -> nn.Module:
    return module  # inference only, on CPU, in float32: the shared module is not changed


def _int8_dynamic(module: nn.Module) -> nn.Module:
    with warnings.catch_warnings():  # torch 2.13 marks torch.ao.quantization deprecated (for torchao); it works
        warnings.filterwarnings("ignore", message=r"torch\.ao\.quantization is deprecated", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r"torch\.quantize_per_tensor", category=UserWarning)
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(copy.deepcopy(module), {nn.Linear}, dtype=torch.qint8)


def _cast(dtype: torch.dtype) -> Callable[[nn.Module], nn.Module]:
    return lambda module: copy.deepcopy(module).to(device="cuda", dtype=dtype)


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("fp32", "the model as loaded (float32, CPU)", "cpu", torch.float32, _same),
    Variant("int8-dynamic", "dynamic int8 quantization of Linear layers (torch.ao quantize_dynamic, CPU)", "cpu",
            torch.float32, _int8_dynamic),
    Variant("fp32-cuda", "float32 on the GPU", "cuda", torch.float32, _cast(torch.float32)),
    Variant("fp16", "half precision (float16) on the GPU", "cuda", torch.float16, _cast(torch.float16)),
    Variant("bf16", "bfloat16 on the GPU", "cuda", torch.bfloat16, _cast(torch.bfloat16)),
)}
DEFAULT_VARIANTS = ("fp32", "int8-dynamic", "fp32-cuda", "fp16", "bf16")


@dataclass(frozen=True)
class VariantResult:
    """One variant's scores. `agreement` is the share of rows predicted as the fp32 model predicts them."""

    name: str
    description: str
    device: str
    accuracy: float
    demographic_parity_difference: float
    disparity_attribute: str
    agreement_with_fp32: float | None
    kwh_per_1k_predictions: float
    ms_per_1k_predictions: float
    energy_method: str
    predictions: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VariantsReport:
    """All variants side by side; `skipped` names the variants that could not run here and why."""

    rows: tuple[VariantResult, ...]
    n_rows: int
    repeats: int
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"variants": [r.to_dict() for r in self.rows], "n_rows": self.n_rows, "repeats": self.repeats,
                "skipped": dict(self.skipped)}


def _labels(ctx: AuditContext, n_outputs: int, class_names: Sequence[str] | None) -> tuple[str, ...]:
    """Label of each output index; a single logit means (negative, positive)."""
    if n_outputs == 1:
        pos = ctx.positive_label
        neg = next((c for c in ctx.classes if c != pos), "0" if pos != "0" else "1")
        return neg, pos
    return tuple(class_names) if class_names else tuple(ctx.classes)


@worker_op
def variant_logits(model: Any, family: str, variant: str, inputs: Any, *, batch_size: int, repeats: int) -> np.ndarray:
    """Logits of the variant `variant` of the loaded model over `inputs`, run `repeats` times (worker)."""
    v = VARIANTS[variant]
    built = replace(model, module=v.build(model.module))
    for _ in range(repeats):
        logits = get(family).forward(built, inputs, batch_size=batch_size, device=v.device, progress=None)
    if v.device == "cuda":
        torch.cuda.synchronize()
    return logits


def _indices(logits: np.ndarray) -> np.ndarray:
    """Output index per row: logit > 0 for one output, else the largest."""
    if logits.ndim == 2 and logits.shape[1] == 1:
        logits = logits[:, 0]
    return (logits > 0).astype(np.int64) if logits.ndim == 1 else logits.argmax(axis=1)


def _main_disparity(y_true: np.ndarray, y_pred: np.ndarray, positive: str, sensitive) -> tuple[float, str]:
    """Largest demographic parity difference (fairlearn) over the sensitive attributes, and which attribute."""
    from fairlearn.metrics import demographic_parity_difference

    selected = (y_pred == positive).astype(int)
    best = (0.0, "")
    for col in sensitive.columns:
        d = float(demographic_parity_difference(y_true, selected, sensitive_features=sensitive[col].to_numpy()))
        if d >= best[0] or not best[1]:
            best = (d, col)
    return best


def compare_variants(ctx: AuditContext, *, variants: Sequence[str] = DEFAULT_VARIANTS,
                     meter: EnergyMeter | None = None,
                     region: str | None = None, max_rows: int = 5000, repeats: int = 1,
                     batch_size: int = 256, seed: int = 0) -> VariantsReport:
    """Run each variant on up to `max_rows` rows of the audit data (`repeats` times, for steadier timings).

    Variants are built from the loaded model inside its worker, never in this process.
    Each variant's inference is one phase of `meter` (default: a new EnergyMeter for `region`).
    GPU variants are skipped without CUDA and listed in `skipped`.
    """
    if ctx.model is None:
        raise SettingsError(_NO_MODEL)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SettingsError(f"Unknown variant(s) {unknown}; choose from {', '.join(VARIANTS)}.")
    if max_rows < 1 or repeats < 1 or batch_size < 1:
        raise SettingsError("max_rows, repeats and batch_size must be at least 1.")
    n = len(ctx.frame)
    rows = np.sort(np.random.default_rng(seed).permutation(n)[:max_rows]) if n > max_rows else np.arange(n)
    if meter is None:
        meter = EnergyMeter(region) if region else EnergyMeter()
    labels = np.asarray(_labels(ctx, ctx.model.n_outputs, ctx.model.class_names), dtype=object)
    y_true = np.asarray(ctx.y_true)[rows].astype(str)
    sensitive = ctx.sensitive_features.iloc[rows].reset_index(drop=True)
    plan = [VARIANTS[v] for v in variants]
    inputs = ctx.model.family.inputs(ctx.frame.iloc[rows], ctx.spec, ctx.model.info)[0]
    cuda = torch.cuda.is_available()
    results: list[VariantResult] = []
    skipped: dict[str, str] = {}
    reference: np.ndarray | None = None
    for variant in plan:
        if variant.device == "cuda" and not cuda:
            skipped[variant.name] = "needs a CUDA GPU"
            continue
        phase = f"variant:{variant.name}"
        started = time.perf_counter()
        with meter.phase(phase, predictions=len(rows) * repeats):
            idx = _indices(ctx.model.run(variant_logits, ctx.model.family.name, variant.name, inputs,
                                         batch_size=batch_size, repeats=repeats))
        seconds = time.perf_counter() - started
        y_pred = labels[idx].astype(str)
        if variant.name == "fp32":
            reference = y_pred
        dpd, attr = _main_disparity(y_true, y_pred, ctx.positive_label, sensitive)
        report = meter.report()
        energy = report.phase(phase)
        results.append(VariantResult(
            name=variant.name, description=variant.description, device=variant.device,
            accuracy=float(np.mean(y_pred == y_true)), demographic_parity_difference=dpd, disparity_attribute=attr,
            agreement_with_fp32=None if reference is None else float(np.mean(y_pred == reference)),
            kwh_per_1k_predictions=energy.kwh / energy.predictions * 1000.0,
            ms_per_1k_predictions=seconds / energy.predictions * 1e6, energy_method=report.method,
            predictions=energy.predictions))
    return VariantsReport(tuple(results), len(rows), repeats, skipped)
