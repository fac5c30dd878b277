"""audit.json's `energy` section as a typed result: `EnergyResult`, whose `to_dict()` is the section.

How the audit run uses it:

    from auditkit.energy.section import energy_result, start_meter

    meter, unavailable = start_meter(region)        # None and the "not measured" section when nothing is readable
    if meter:
        with meter.phase("load"):
            model = load_model(...)
        with meter.phase("inference", predictions=n_rows):
            predictions = predict(model, data)
        result = energy_result(meter.report())      # EnergyResult
        meter.close()
    audit["energy"] = result.to_dict()

Views read a stored section back with `EnergyResult.from_dict(audit["energy"])`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, TypeVar

import pandas as pd

from auditkit.energy.carbon import DEFAULT_REGION, CarbonIntensity, carbon_intensity
from auditkit.energy.meter import J_PER_KWH, EnergyMeter, EnergyReport, PhaseEnergy
from auditkit.energy.methods import METHODS
from auditkit.energy.sources import NoEnergySourceError
from auditkit.errors import AuditkitError

T = TypeVar("T")

#: `method_detail` when the CPU's energy comes from the process's CPU time.
FROM_CPU_TIME = "estimated from CPU time"
FROM_CPU_TIME_PARTLY = "partly measured; CPU estimated from CPU time"


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _pair(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(_num(v) is not None for v in value):
        return float(value[0]), float(value[1])
    return None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class PhaseResult:
    """One phase of the run: kWh net of idle, its interval, and (when estimated from CPU time) its CPU-seconds."""

    name: str
    kwh: float | None
    seconds: float | None
    kwh_gross: float | None = None
    idle_kwh: float | None = None
    co2e_kg: float | None = None
    kwh_interval: tuple[float, float] | None = None
    predictions: int | None = None
    components_kwh: Mapping[str, float] | None = None
    kwh_per_1k_predictions: float | None = None
    cpu_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kwh": self.kwh, "seconds": self.seconds, "kwh_gross": self.kwh_gross,
                               "idle_kwh": self.idle_kwh, "co2e_kg": self.co2e_kg,
                               "kwh_interval": list(self.kwh_interval) if self.kwh_interval else None,
                               "predictions": self.predictions,
                               "components_kwh": dict(self.components_kwh) if self.components_kwh is not None else None}
        if self.kwh_per_1k_predictions is not None:
            out["kwh_per_1k_predictions"] = self.kwh_per_1k_predictions
        if self.cpu_seconds is not None:
            out["cpu_seconds"] = self.cpu_seconds
        return out

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> "PhaseResult":
        comps = d.get("components_kwh")
        preds = d.get("predictions")
        return cls(name, _num(d.get("kwh")), _num(d.get("seconds")), _num(d.get("kwh_gross")),
                   _num(d.get("idle_kwh")), _num(d.get("co2e_kg")), _pair(d.get("kwh_interval")),
                   int(preds) if _num(preds) is not None else None,
                   {str(c): float(v) for c, v in comps.items() if _num(v) is not None} if isinstance(comps, dict) else None,
                   _num(d.get("kwh_per_1k_predictions")), _num(d.get("cpu_seconds")))


@dataclass(frozen=True)
class ComponentResult:
    """How one component (cpu, gpu, ram) was measured or estimated, and its kWh over the run."""

    name: str
    method: str
    kind: str
    detail: str
    uncertainty_factors: tuple[float, float]
    description: str
    kwh: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "kind": self.kind, "detail": self.detail,
                "uncertainty_factors": list(self.uncertainty_factors), "description": self.description,
                "kwh": self.kwh}

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> "ComponentResult":
        return cls(name, str(d.get("method", "")), str(d.get("kind", "")), str(d.get("detail", "")),
                   _pair(d.get("uncertainty_factors")) or (math.nan, math.nan), str(d.get("description", "")),
                   _num(d.get("kwh")))


@dataclass(frozen=True)
class IdleResult:
    """Idle power measured before the run: total watts and watts per component."""

    seconds: float
    watts: float
    components_w: Mapping[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "watts": self.watts, "components_w": dict(self.components_w)}


@dataclass(frozen=True)
class Overhead:
    """Time the meter spent polling, and its share of the measured phases."""

    seconds: float
    samples: int
    fraction_of_run: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "samples": self.samples, "fraction_of_run": self.fraction_of_run}


@dataclass(frozen=True)
class EnergyResult:
    """The `energy` section of audit.json. `to_dict()` is the section; `from_dict()` reads one back.

    `kwh` is None when nothing could be measured (`method` "not measured", `error` says why). Estimates carry
    `method_detail` ("estimated from CPU time"), the run's `cpu_seconds`, the `watts_per_cpu_second` used and
    `kwh_per_1k_predictions_interval`; every figure's uncertainty interval is in `kwh_interval`.
    """

    kwh: float | None
    co2e_kg: float | None
    kwh_per_1k_predictions: float | None
    method: str
    region: str
    phases: tuple[PhaseResult, ...] = ()
    kwh_interval: tuple[float, float] | None = None
    co2e_kg_interval: tuple[float, float] | None = None
    carbon: CarbonIntensity | None = None
    idle: IdleResult | None = None
    components: tuple[ComponentResult, ...] = ()
    overhead: Overhead | None = None
    method_detail: str | None = None
    cpu_seconds: float | None = None
    watts_per_cpu_second: float | None = None
    kwh_per_1k_predictions_interval: tuple[float, float] | None = None
    kwh_per_1k_predictions_measured: str | None = None
    error: str | None = None

    @property
    def measured(self) -> bool:
        """True when there are numbers (measured or estimated); False for a "not measured" section."""
        return self.kwh is not None

    @property
    def estimated(self) -> bool:
        """True when any figure is an estimate (method "estimated" or "partly measured")."""
        return self.method in ("estimated", "partly measured")

    @property
    def method_text(self) -> str:
        """How the figures were obtained, in words: `method_detail` when there is one, else `method`."""
        return self.method_detail or self.method

    def phase(self, name: str) -> PhaseResult | None:
        return next((p for p in self.phases if p.name == name), None)

    def in_region(self, region: str) -> "EnergyResult":
        """The same energy with CO2e for another region (ISO alpha-3)."""
        ci = carbon_intensity(region)
        if self.kwh is None:
            return replace(self, region=ci.region)
        return replace(self, region=ci.region, carbon=ci, co2e_kg=ci.co2e_kg(self.kwh),
                       co2e_kg_interval=(ci.co2e_kg(self.kwh_interval[0]), ci.co2e_kg(self.kwh_interval[1]))
                       if self.kwh_interval else None,
                       phases=tuple(replace(p, co2e_kg=ci.co2e_kg(p.kwh) if p.kwh is not None else None)
                                    for p in self.phases))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kwh": self.kwh, "co2e_kg": self.co2e_kg,
                               "kwh_per_1k_predictions": self.kwh_per_1k_predictions, "method": self.method,
                               "region": self.region, "phases": {p.name: p.to_dict() for p in self.phases}}
        if self.carbon is not None:
            out.update({
                "kwh_interval": list(self.kwh_interval) if self.kwh_interval else None,
                "co2e_kg_interval": list(self.co2e_kg_interval) if self.co2e_kg_interval else None,
                "carbon_intensity": self.carbon.to_dict(),
                "idle_baseline": self.idle.to_dict() if self.idle else None,
                "components": {c.name: c.to_dict() for c in self.components},
                "overhead": self.overhead.to_dict() if self.overhead else None,
            })
        optional = {"method_detail": self.method_detail, "cpu_seconds": self.cpu_seconds,
                    "watts_per_cpu_second": self.watts_per_cpu_second,
                    "kwh_per_1k_predictions_interval":
                        list(self.kwh_per_1k_predictions_interval) if self.kwh_per_1k_predictions_interval else None,
                    "kwh_per_1k_predictions_measured": self.kwh_per_1k_predictions_measured, "error": self.error}
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    @classmethod
    def from_dict(cls, section: Mapping[str, Any]) -> "EnergyResult":
        """Read an `energy` section back (missing or malformed entries become None)."""
        ci = _mapping(section.get("carbon_intensity"))
        carbon = CarbonIntensity(str(ci.get("region", "")), str(ci.get("country_name", "")),
                                 float(ci.get("g_per_kwh") or 0.0), ci.get("year"), str(ci.get("source", ""))) \
            if ci else None
        idle = _mapping(section.get("idle_baseline"))
        over = _mapping(section.get("overhead"))
        error, detail, measured_at = (section.get(k) for k in ("error", "method_detail",
                                                                "kwh_per_1k_predictions_measured"))
        return cls(
            kwh=_num(section.get("kwh")), co2e_kg=_num(section.get("co2e_kg")),
            kwh_per_1k_predictions=_num(section.get("kwh_per_1k_predictions")),
            method=str(section.get("method") or "not measured"), region=str(section.get("region") or ""),
            phases=tuple(PhaseResult.from_dict(str(n), p) for n, p in _mapping(section.get("phases")).items()
                         if isinstance(p, dict)),
            kwh_interval=_pair(section.get("kwh_interval")), co2e_kg_interval=_pair(section.get("co2e_kg_interval")),
            carbon=carbon,
            idle=IdleResult(float(idle.get("seconds") or 0.0), float(idle.get("watts") or 0.0),
                            dict(_mapping(idle.get("components_w")))) if idle else None,
            components=tuple(ComponentResult.from_dict(str(n), c)
                             for n, c in _mapping(section.get("components")).items() if isinstance(c, dict)),
            overhead=Overhead(float(over.get("seconds") or 0.0), int(over.get("samples") or 0),
                              _num(over.get("fraction_of_run"))) if over else None,
            method_detail=str(detail) if detail is not None else None,
            cpu_seconds=_num(section.get("cpu_seconds")), watts_per_cpu_second=_num(section.get("watts_per_cpu_second")),
            kwh_per_1k_predictions_interval=_pair(section.get("kwh_per_1k_predictions_interval")),
            kwh_per_1k_predictions_measured=str(measured_at) if measured_at is not None else None,
            error=str(error) if error is not None else None)


def energy_result(report: EnergyReport) -> EnergyResult:
    """The typed `energy` section of a meter's report (kWh net of idle, intervals, CO2e, per phase and component)."""
    cpu_time = next((c for c in report.components if c.watts_per_cpu_second), None)

    def cpu_seconds(p: PhaseEnergy) -> float | None:
        return p.gross_j.get(cpu_time.component, 0.0) / cpu_time.watts_per_cpu_second if cpu_time else None

    def phase(p: PhaseEnergy) -> PhaseResult:
        return PhaseResult(p.name, p.kwh, p.seconds, p.kwh_gross, sum(p.idle_j.values()) / J_PER_KWH,
                           report.carbon.co2e_kg(p.kwh), report.interval_kwh(p.net_j), p.predictions,
                           {c: j / J_PER_KWH for c, j in sorted(p.net_j.items())},
                           p.kwh / p.predictions * 1000.0 if p.predictions else None, cpu_seconds(p))

    low, high = report.kwh_interval
    kwh_by_component: dict[str, float] = {}
    for p in report.phases:
        for c, j in p.net_j.items():
            kwh_by_component[c] = kwh_by_component.get(c, 0.0) + j / J_PER_KWH
    total_seconds = sum(p.seconds for p in report.phases)
    components = tuple(ComponentResult(c.component, c.method, c.kind, c.detail, c.interval(1.0),
                                       METHODS[c.method].description, kwh_by_component.get(c.component, 0.0))
                       for c in report.components)
    result = EnergyResult(
        kwh=report.kwh, co2e_kg=report.co2e_kg, kwh_per_1k_predictions=report.kwh_per_1k_predictions,
        method=report.method, region=report.region, phases=tuple(phase(p) for p in report.phases),
        kwh_interval=(low, high), co2e_kg_interval=(report.carbon.co2e_kg(low), report.carbon.co2e_kg(high)),
        carbon=report.carbon,
        idle=IdleResult(report.idle.seconds, report.idle.total_watts, dict(report.idle.watts)) if report.idle else None,
        components=components,
        overhead=Overhead(report.overhead_seconds, report.samples,
                          report.overhead_seconds / total_seconds if total_seconds > 0 else None))
    if report.method == "measured":
        return result
    inference = report.phase("inference")
    per1k_interval = None
    if inference is not None and inference.predictions:
        lo, hi = report.interval_kwh(inference.net_j)
        per1k_interval = (lo / inference.predictions * 1000.0, hi / inference.predictions * 1000.0)
    return replace(result, kwh_per_1k_predictions_interval=per1k_interval, **({
        "method_detail": FROM_CPU_TIME if report.method == "estimated" else FROM_CPU_TIME_PARTLY,
        "cpu_seconds": sum(cpu_seconds(p) or 0.0 for p in report.phases),
        "watts_per_cpu_second": cpu_time.watts_per_cpu_second} if cpu_time else {}))


def build_section(report: EnergyReport) -> dict:
    """The `energy` section of a meter's report: `energy_result(report).to_dict()`."""
    return energy_result(report).to_dict()


def unavailable_result(error: AuditkitError | str, *, region: str = DEFAULT_REGION) -> EnergyResult:
    """The result when nothing could be measured: the headline numbers are None (policy: not measured) and
    `error` says why and what to do."""
    return EnergyResult(None, None, None, "not measured", region.upper(), error=str(error))


def unavailable_section(error: AuditkitError | str, *, region: str = DEFAULT_REGION) -> dict:
    """`unavailable_result(...).to_dict()`."""
    return unavailable_result(error, region=region).to_dict()


def phases_frame(result: EnergyResult) -> pd.DataFrame:
    """One row per phase and component: kWh (net of idle), plus the phase's seconds, predictions and interval."""
    rows = []
    for p in result.phases:
        low, high = p.kwh_interval or (None, None)
        for component, kwh in (p.components_kwh or {"total": p.kwh}).items():
            rows.append({"phase": p.name, "component": component, "kwh": kwh, "phase_kwh": p.kwh,
                         "phase_kwh_low": low, "phase_kwh_high": high, "seconds": p.seconds,
                         "predictions": p.predictions, "co2e_kg": p.co2e_kg, "cpu_seconds": p.cpu_seconds})
    return pd.DataFrame(rows, columns=["phase", "component", "kwh", "phase_kwh", "phase_kwh_low", "phase_kwh_high",
                                       "seconds", "predictions", "co2e_kg", "cpu_seconds"])


def components_frame(result: EnergyResult) -> pd.DataFrame:
    """One row per component: method, measured or estimated, what was read, and the uncertainty factors."""
    rows = [{"component": c.name, "kind": c.kind, "method": c.method, "kwh": c.kwh,
             "interval_low_factor": c.uncertainty_factors[0], "interval_high_factor": c.uncertainty_factors[1],
             "detail": c.detail} for c in result.components]
    return pd.DataFrame(rows, columns=["component", "kind", "method", "kwh", "interval_low_factor",
                                       "interval_high_factor", "detail"])


def start_meter(region: str = DEFAULT_REGION, *, idle_seconds: float = 1.0) -> tuple[EnergyMeter | None, dict | None]:
    """An `EnergyMeter` with its idle baseline taken, or (None, the section saying why nothing can be measured)."""
    try:
        meter = EnergyMeter(region=region)
    except NoEnergySourceError as exc:
        return None, unavailable_section(exc, region=region)
    meter.measure_idle(seconds=idle_seconds)
    return meter, None


def measure_phase(phase: str, run: Callable[[], T], *, region: str = DEFAULT_REGION,
                  idle_seconds: float = 1.0) -> tuple[T, dict]:
    """Run `run()` as one measured phase (e.g. "training"); return its result and the `energy` section for it."""
    meter, unavailable = start_meter(region, idle_seconds=idle_seconds)
    if meter is None:
        return run(), unavailable
    try:
        with meter.phase(phase):
            result = run()
        return result, build_section(meter.report())
    finally:
        meter.close()
