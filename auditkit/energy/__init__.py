"""Energy and carbon: measure each phase of a run, project deployment and training, compare cheaper variants."""
from auditkit.energy.carbon import DEFAULT_REGION, CarbonIntensity, carbon_intensity, regions
from auditkit.energy.meter import EnergyMeter, EnergyReport, IdleBaseline, PhaseEnergy
from auditkit.energy.sources import (ConstantPowerSource, EnergySource, NoEnergySourceError, NvmlEnergySource,
                                     NvmlPowerSource, ProcessCpuSource, RaplSource, cpu_tdp, detect_sources)

__all__ = ["DEFAULT_REGION", "CarbonIntensity", "carbon_intensity", "regions", "EnergyMeter",
           "EnergyReport", "IdleBaseline", "PhaseEnergy", "ConstantPowerSource", "EnergySource",
           "NoEnergySourceError", "NvmlEnergySource", "NvmlPowerSource", "ProcessCpuSource", "RaplSource", "cpu_tdp",
           "detect_sources"]
