"""Projections with every assumption visible: a deployment's yearly energy and a transformer's training cost.

Training compute follows the usual approximation for dense transformers, FLOPs ~ 6 x parameters x tokens
(Kaplan et al. 2020, "Scaling Laws for Neural Language Models", section 2.1). Device-hours = FLOPs /
(peak x utilisation); energy = device-hours x average board power x PUE. Spreading the work over more
devices shortens the wall time, not the energy.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from auditkit.energy.carbon import DEFAULT_REGION, carbon_intensity
from auditkit.errors import SettingsError

J_PER_KWH = 3.6e6


@dataclass(frozen=True)
class Accelerator:
    """Sustained throughput = peak_tflops x utilisation; power is the average draw while training (default: TDP)."""

    name: str
    peak_tflops: float
    precision: str
    power_w: float
    utilisation: float
    source: str

    @property
    def sustained_tflops(self) -> float:
        return self.peak_tflops * self.utilisation

    def to_dict(self) -> dict:
        return {**asdict(self), "sustained_tflops": self.sustained_tflops}


_MFU_NOTE = ("utilisation 0.4: model FLOPs utilisation of well-tuned large-scale training is typically 0.3-0.5 "
             "(PaLM reports 0.46, Chowdhery et al. 2022, table 3)")
ACCELERATORS: dict[str, Accelerator] = {a.name: a for a in (
    Accelerator("A100", 312.0, "bf16 dense", 400.0, 0.4,
                f"NVIDIA A100 SXM datasheet: 312 TFLOPS BF16 dense, 400 W TDP; {_MFU_NOTE}"),
    Accelerator("H100", 989.0, "bf16 dense", 700.0, 0.4,
                f"NVIDIA H100 SXM datasheet: 989 TFLOPS BF16 dense (1,979 with sparsity), 700 W TDP; {_MFU_NOTE}"),
    Accelerator("L4", 121.0, "bf16 dense", 72.0, 0.4,
                f"NVIDIA L4 datasheet: 121 TFLOPS BF16 dense (242 with sparsity), 72 W TDP; {_MFU_NOTE}"),
    Accelerator("T4", 65.0, "fp16 mixed", 70.0, 0.4,
                f"NVIDIA T4 datasheet: 65 TFLOPS FP16 tensor cores, 70 W TDP; {_MFU_NOTE}"),
    Accelerator("CPU", 3.0, "fp32", 250.0, 0.3,
                "Assumed 32-core AVX-512 server CPU: about 3 TFLOPS fp32 peak, 250 W TDP, 0.3 utilisation "
                "(an order-of-magnitude figure: edit it for your CPU)"),
)}


@dataclass(frozen=True)
class DeploymentProjection:
    """Yearly energy and CO2e of serving `predictions_per_day` at the measured kWh per 1,000 predictions."""

    predictions_per_day: float
    kwh_per_1k_predictions: float
    days_per_year: float
    pue: float
    region: str
    carbon_intensity_g_per_kwh: float

    @property
    def kwh_per_year(self) -> float:
        return self.kwh_per_1k_predictions * self.predictions_per_day / 1000.0 * self.days_per_year * self.pue

    @property
    def co2e_kg_per_year(self) -> float:
        return self.kwh_per_year * self.carbon_intensity_g_per_kwh / 1000.0

    def to_dict(self) -> dict:
        return {**asdict(self), "kwh_per_year": self.kwh_per_year, "co2e_kg_per_year": self.co2e_kg_per_year}


def _check_positive(**values: float) -> None:
    for name, v in values.items():
        if not v > 0:
            raise SettingsError(f"{name} must be > 0 (got {v}).")


def project_deployment(*, kwh_per_1k_predictions: float, predictions_per_day: float, region: str = DEFAULT_REGION,
                       carbon_intensity_g_per_kwh: float | None = None, pue: float = 1.0,
                       days_per_year: float = 365.0) -> DeploymentProjection:
    """Project a year of serving. PUE (data-centre overhead, >= 1) is 1.0 unless you know yours.

    The carbon intensity is the region's (codecarbon's data) unless given explicitly.
    """
    _check_positive(predictions_per_day=predictions_per_day, days_per_year=days_per_year)
    if kwh_per_1k_predictions < 0:
        raise SettingsError(f"kwh_per_1k_predictions must be >= 0 (got {kwh_per_1k_predictions}).")
    if pue < 1:
        raise SettingsError(f"PUE is total facility energy / IT energy, so at least 1 (got {pue}).")
    intensity = carbon_intensity(region).g_per_kwh if carbon_intensity_g_per_kwh is None \
        else carbon_intensity_g_per_kwh
    return DeploymentProjection(float(predictions_per_day), float(kwh_per_1k_predictions), float(days_per_year),
                                float(pue), region.upper(), float(intensity))


@dataclass(frozen=True)
class TrainingEstimate:
    """Estimated cost of training a dense transformer from scratch (or fine-tuning it on `tokens`)."""

    params: float
    tokens: float
    accelerator: Accelerator
    n_accelerators: int
    pue: float
    region: str
    carbon_intensity_g_per_kwh: float

    @property
    def flops(self) -> float:
        return 6.0 * self.params * self.tokens

    @property
    def accelerator_hours(self) -> float:
        """Total device-hours (each device at its sustained throughput)."""
        return self.flops / (self.accelerator.sustained_tflops * 1e12) / 3600.0

    @property
    def wall_hours(self) -> float:
        return self.accelerator_hours / self.n_accelerators

    @property
    def kwh(self) -> float:
        return self.accelerator_hours * self.accelerator.power_w / 1000.0 * self.pue

    @property
    def co2e_kg(self) -> float:
        return self.kwh * self.carbon_intensity_g_per_kwh / 1000.0

    def to_dict(self) -> dict:
        return {"params": self.params, "tokens": self.tokens, "flops": self.flops, "formula": "6 x params x tokens",
                "accelerator": self.accelerator.to_dict(), "n_accelerators": self.n_accelerators, "pue": self.pue,
                "region": self.region, "carbon_intensity_g_per_kwh": self.carbon_intensity_g_per_kwh,
                "accelerator_hours": self.accelerator_hours, "wall_hours": self.wall_hours, "kwh": self.kwh,
                "co2e_kg": self.co2e_kg}


def estimate_training(*, params: float, tokens: float, accelerator: str | Accelerator = "A100",
                      peak_tflops: float | None = None, utilisation: float | None = None,
                      power_w: float | None = None, n_accelerators: int = 1, pue: float = 1.0,
                      region: str = DEFAULT_REGION,
                      carbon_intensity_g_per_kwh: float | None = None) -> TrainingEstimate:
    """Estimate training energy from FLOPs ~ 6 x params x tokens on `accelerator` (a name in ACCELERATORS or an
    Accelerator); `peak_tflops`, `utilisation` and `power_w` override the table's assumptions."""
    if isinstance(accelerator, str):
        if accelerator not in ACCELERATORS:
            raise SettingsError(f"Unknown accelerator {accelerator!r}; choose one of {', '.join(ACCELERATORS)} "
                                "or pass an Accelerator with your own figures.")
        accelerator = ACCELERATORS[accelerator]
    overrides = {k: float(v) for k, v in {"peak_tflops": peak_tflops, "utilisation": utilisation,
                                           "power_w": power_w}.items() if v is not None}
    acc = replace(accelerator, **overrides) if overrides else accelerator
    _check_positive(params=params, tokens=tokens, peak_tflops=acc.peak_tflops, power_w=acc.power_w,
                    n_accelerators=n_accelerators)
    if not 0 < acc.utilisation <= 1:
        raise SettingsError(f"utilisation is a fraction of peak throughput in (0, 1] (got {acc.utilisation}).")
    if pue < 1:
        raise SettingsError(f"PUE is total facility energy / IT energy, so at least 1 (got {pue}).")
    intensity = carbon_intensity(region).g_per_kwh if carbon_intensity_g_per_kwh is None \
        else carbon_intensity_g_per_kwh
    return TrainingEstimate(float(params), float(tokens), acc, int(n_accelerators), float(pue), region.upper(),
                            float(intensity))


def count_parameters(module) -> int:
    """Number of parameters of a torch module (for the training estimate)."""
    return int(sum(p.numel() for p in module.parameters()))
