"""How each energy figure was obtained, and the uncertainty interval that goes with that method.

An interval is a pair of factors (low, high): the true energy is taken to lie in
[figure * low, figure * high]. The factors are documented in docs/energy.md:

- Hardware energy counters (RAPL, NVML total energy) read the energy directly; we allow +/-5 %.
- NVML power sampling integrates sampled board power (trapezoid rule); +/-10 % covers the sensor
  and the sampling between readings.
- CPU utilisation x TDP: codecarbon's accuracy notes (docs/explanation/accuracy.md) measured its
  machine-mode estimate at -60 % to +190 % from RAPL. An estimate E = T * (1 + d) with d in
  [-0.6, 1.9] puts the true value T in [E / 2.9, E / 0.4].
- Threads x default watts and codecarbon's RAM model are not characterised by codecarbon; we give
  them a wider interval, [E / 4, E * 4].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["measured", "estimated"]


@dataclass(frozen=True)
class Method:
    """One way of obtaining a component's energy."""

    name: str
    kind: Kind
    low: float
    high: float
    description: str


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("rapl", "measured", 0.95, 1.05, "Intel/AMD RAPL energy counters (/sys/class/powercap)"),
    Method("nvml_energy_counter", "measured", 0.95, 1.05, "NVIDIA GPU total-energy counter (NVML)"),
    Method("nvml_power_sampling", "measured", 0.90, 1.10,
           "NVIDIA GPU board power sampled through NVML, integrated over time (trapezoid rule)"),
    Method("cpu_utilisation_x_tdp", "estimated", 1 / 2.9, 1 / 0.4,
           "CPU utilisation x the CPU's TDP from codecarbon's table (codecarbon's machine-mode curve)"),
    Method("cpu_utilisation_x_default_tdp", "estimated", 0.25, 4.0,
           "CPU utilisation x a default TDP of 4 W per thread (CPU model not in codecarbon's table)"),
    Method("ram_codecarbon_model", "estimated", 0.25, 4.0,
           "RAM power from codecarbon's DIMM model (about 5 W per x86 DIMM), constant over time"),
    Method("constant_power", "estimated", 0.25, 4.0, "A fixed power figure supplied by the user"),
)}


def overall_kind(kinds: list[str]) -> Literal["measured", "estimated", "partly measured"]:
    """'measured' when every figure is measured, 'estimated' when none is, else 'partly measured'."""
    if kinds and all(k == "measured" for k in kinds):
        return "measured"
    if all(k == "estimated" for k in kinds):
        return "estimated"
    return "partly measured"
