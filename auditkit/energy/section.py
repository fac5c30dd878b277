"""audit.json's `energy` section.

How the audit run uses it:

    from auditkit.energy import EnergyMeter, NoEnergySourceError
    from auditkit.energy.section import build_section, unavailable_section

    try:
        meter = EnergyMeter(region=region)            # region: ISO alpha-3, default "USA"
    except NoEnergySourceError as exc:
        meter, energy = None, unavailable_section(exc, region=region)
    if meter:
        meter.measure_idle(seconds=3)                   # before loading anything
        with meter.phase("load"):
            model = load_model(...)
        with meter.phase("inference", predictions=n_rows):
            predictions = predict(model, data)
        with meter.phase("explanations"):
            ...
        energy = build_section(meter.report())
        meter.close()
    audit["energy"] = energy
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

import pandas as pd

from auditkit.energy.carbon import DEFAULT_REGION
from auditkit.energy.meter import EnergyReport
from auditkit.errors import AuditkitError

T = TypeVar("T")


def build_section(report: EnergyReport) -> dict:
    """The `energy` section: `report.to_dict()` (kwh, co2e_kg, kwh_per_1k_predictions, method, region, phases, ...)."""
    return report.to_dict()


def unavailable_section(error: AuditkitError | str, *, region: str = DEFAULT_REGION) -> dict:
    """The `energy` section when nothing could be measured: the headline numbers are null (policy: not measured)
    and `error` says why and what to do."""
    return {"kwh": None, "co2e_kg": None, "kwh_per_1k_predictions": None, "method": "not measured",
            "region": region.upper(), "phases": {}, "error": str(error)}


def with_region(section: dict, region: str) -> dict:
    """The section with CO2e recomputed for another region (energy unchanged)."""
    from auditkit.energy.carbon import carbon_intensity

    ci = carbon_intensity(region)
    out = {**section, "region": ci.region, "carbon_intensity": ci.to_dict()}
    if section.get("kwh") is not None:
        out["co2e_kg"] = ci.co2e_kg(section["kwh"])
    if section.get("kwh_interval"):
        out["co2e_kg_interval"] = [ci.co2e_kg(v) for v in section["kwh_interval"]]
    out["phases"] = {name: {**p, "co2e_kg": ci.co2e_kg(p["kwh"])} for name, p in section.get("phases", {}).items()}
    return out


def phases_frame(section: dict) -> pd.DataFrame:
    """One row per phase and component: kWh (net of idle), plus the phase's seconds, predictions and interval."""
    rows = []
    for name, p in section.get("phases", {}).items():
        low, high = p.get("kwh_interval", [None, None])
        for component, kwh in (p.get("components_kwh") or {"total": p["kwh"]}).items():
            rows.append({"phase": name, "component": component, "kwh": kwh, "phase_kwh": p["kwh"],
                         "phase_kwh_low": low, "phase_kwh_high": high, "seconds": p["seconds"],
                         "predictions": p.get("predictions"), "co2e_kg": p.get("co2e_kg")})
    return pd.DataFrame(rows, columns=["phase", "component", "kwh", "phase_kwh", "phase_kwh_low", "phase_kwh_high",
                                       "seconds", "predictions", "co2e_kg"])


def components_frame(section: dict) -> pd.DataFrame:
    """One row per component: method, measured or estimated, what was read, and the uncertainty factors."""
    rows = [{"component": c, "kind": d["kind"], "method": d["method"], "kwh": d.get("kwh"),
             "interval_low_factor": d["uncertainty_factors"][0], "interval_high_factor": d["uncertainty_factors"][1],
             "detail": d["detail"]} for c, d in (section.get("components") or {}).items()]
    return pd.DataFrame(rows, columns=["component", "kind", "method", "kwh", "interval_low_factor",
                                       "interval_high_factor", "detail"])


def start_meter(region: str = DEFAULT_REGION, *, idle_seconds: float = 1.0) -> tuple[Any, dict | None]:
    """An `EnergyMeter` with its idle baseline taken, or (None, the section saying why nothing can be measured)."""
    from auditkit.energy.meter import EnergyMeter
    from auditkit.energy.sources import NoEnergySourceError

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
