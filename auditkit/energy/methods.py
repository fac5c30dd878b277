"""How each energy figure was obtained, and the uncertainty interval that goes with that method.

An interval is a pair of factors (low, high): the true energy is taken to lie in
[figure * low, figure * high]. The factors are documented in docs/energy.md:

- Hardware energy counters (RAPL, NVML total energy) read the energy directly; we allow +/-5 %.
- NVML power sampling integrates sampled board power (trapezoid rule); +/-10 % covers the sensor
  and the sampling between readings.
- Process CPU time x the CPU's TDP shared over its threads: a busy thread draws less than its share when it
  shares a core or the chip runs below its TDP, more when it boosts alone on an idle chip; we allow a
  factor of 3 either way, [E / 3, E * 3].
- Process CPU time x codecarbon's default 4 W per thread, codecarbon's RAM model and a user's fixed figure
  are not characterised; we give them a factor of 4 either way, [E / 4, E * 4].
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
    Method("cpu_time_x_tdp_per_thread", "estimated", 1 / 3, 3.0,
           "This process's CPU time x the CPU's TDP (codecarbon's table) shared over its threads"),
    Method("cpu_time_x_default_power", "estimated", 0.25, 4.0,
           "This process's CPU time x 4 W per CPU-second (codecarbon's default per thread; CPU not in its table)"),
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
