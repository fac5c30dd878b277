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

from auditkit.energy.carbon import DEFAULT_REGION
from auditkit.energy.meter import EnergyReport
from auditkit.errors import AuditkitError


def build_section(report: EnergyReport) -> dict:
    """The `energy` section: `report.to_dict()` (kwh, co2e_kg, kwh_per_1k_predictions, method, region, phases, ...)."""
    return report.to_dict()


def unavailable_section(error: AuditkitError | str, *, region: str = DEFAULT_REGION) -> dict:
    """The `energy` section when nothing could be measured: the headline numbers are null (policy: not measured)
    and `error` says why and what to do."""
    return {"kwh": None, "co2e_kg": None, "kwh_per_1k_predictions": None, "method": "not measured",
            "region": region.upper(), "phases": {}, "error": str(error)}
