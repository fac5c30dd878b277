"""Power and energy sources: each reports the cumulative energy (joules) of one component since its first poll.

Counters (RAPL, NVML total energy) are read directly; sampled power (NVML board power) is integrated with the
trapezoid rule; estimates (CPU utilisation x TDP, codecarbon's RAM model) integrate a modelled power over time.
Every source names its component and its method (see `auditkit.energy.methods.METHODS`).
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import psutil

from auditkit.errors import AuditkitError

Component = Literal["cpu", "gpu", "ram"]
POWERCAP_ROOT = Path("/sys/class/powercap")


class NoEnergySourceError(AuditkitError):
    """No component of this machine can be measured or estimated."""


_NOTHING_MEASURABLE = ("Energy cannot be measured or estimated on this machine: {0}. Run on Linux with readable "
                       "RAPL counters (/sys/class/powercap) or an NVIDIA GPU, or pass a fixed power figure "
                       "(ConstantPowerSource) to EnergyMeter(sources=[...]).")


class EnergySource(ABC):
    """One component's energy. `poll(now)` returns joules used since the first poll (which returns 0)."""

    component: Component
    method: str
    detail: str

    @abstractmethod
    def poll(self, now: float) -> float:
        """Update from the hardware or the model at time `now` (seconds) and return cumulative joules."""

    def close(self) -> None:
        """Release handles (NVML); a no-op for most sources."""


@dataclass(frozen=True)
class RaplDomain:
    """One RAPL zone: a folder holding `energy_uj`, `max_energy_range_uj` and `name`."""

    path: Path
    name: str
    max_energy_range_uj: int

    def read_uj(self) -> int:
        return int((self.path / "energy_uj").read_text().strip())


class RaplSource(EnergySource):
    """Sum of RAPL energy counters (microjoules), with wraparound at `max_energy_range_uj`.

    The meter polls often enough (default every 0.2 s) that a counter wraps at most once between polls.
    """

    method = "rapl"

    def __init__(self, domains: Sequence[RaplDomain], *, component: Component = "cpu"):
        if not domains:
            raise ValueError("RaplSource needs at least one domain")
        self.domains = tuple(domains)
        self.component = component
        self.detail = "RAPL " + ", ".join(f"{d.path.name} ({d.name})" for d in self.domains)
        self._last: list[int] | None = None
        self._total_uj = 0

    def poll(self, now: float) -> float:
        values = [d.read_uj() for d in self.domains]
        if self._last is not None:
            for d, prev, cur in zip(self.domains, self._last, values):
                self._total_uj += cur - prev if cur >= prev else cur + d.max_energy_range_uj - prev
        self._last = values
        return self._total_uj / 1e6


def find_rapl_domains(root: str | Path = POWERCAP_ROOT) -> tuple[list[RaplDomain], list[RaplDomain], str]:
    """Readable RAPL package zones and DRAM zones under `root`, plus why none was found (empty when some were).

    Packages are the top-level `intel-rapl:N` zones named `package-*`; DRAM zones are sub-zones named `dram`.
    (`psys` and core/uncore sub-zones are left out: they overlap the package.)
    """
    root = Path(root)
    if not root.is_dir():
        return [], [], f"{root} does not exist"
    packages: list[RaplDomain] = []
    drams: list[RaplDomain] = []
    unreadable: list[str] = []
    for zone in sorted(root.glob("intel-rapl:*")):
        try:
            name = (zone / "name").read_text().strip()
            domain = RaplDomain(zone, name, int((zone / "max_energy_range_uj").read_text().strip()))
            domain.read_uj()
        except (OSError, ValueError):
            unreadable.append(zone.name)
            continue
        depth = zone.name.count(":")
        if depth == 1 and name.startswith("package"):
            packages.append(domain)
        elif depth == 2 and name == "dram":
            drams.append(domain)
    if packages:
        return packages, drams, ""
    if unreadable:
        return [], [], f"RAPL counters not readable ({', '.join(unreadable)}: permission denied?)"
    return [], [], f"no RAPL package zone under {root}"


class NvmlEnergySource(EnergySource):
    """NVIDIA GPUs' total-energy counters (`nvmlDeviceGetTotalEnergyConsumption`, millijoules), summed."""

    component: Component = "gpu"
    method = "nvml_energy_counter"

    def __init__(self, nvml: Any, handles: Sequence[Any], names: Sequence[str]):
        self._nvml, self._handles = nvml, list(handles)
        self.detail = "NVML energy counter: " + ", ".join(names)
        self._first_mj: int | None = None

    def poll(self, now: float) -> float:
        mj = sum(int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h)) for h in self._handles)
        if self._first_mj is None:
            self._first_mj = mj
        return (mj - self._first_mj) / 1000.0

    def close(self) -> None:
        _nvml_shutdown(self._nvml)


class NvmlPowerSource(EnergySource):
    """NVIDIA GPUs' board power (`nvmlDeviceGetPowerUsage`, milliwatts), summed and integrated by the trapezoid rule."""

    component: Component = "gpu"
    method = "nvml_power_sampling"

    def __init__(self, nvml: Any, handles: Sequence[Any], names: Sequence[str]):
        self._nvml, self._handles = nvml, list(handles)
        self.detail = "NVML power sampling: " + ", ".join(names)
        self._last: tuple[float, float] | None = None
        self._joules = 0.0

    def poll(self, now: float) -> float:
        watts = sum(int(self._nvml.nvmlDeviceGetPowerUsage(h)) for h in self._handles) / 1000.0
        if self._last is not None:
            t0, w0 = self._last
            self._joules += (w0 + watts) / 2.0 * (now - t0)
        self._last = (now, watts)
        return self._joules

    def close(self) -> None:
        _nvml_shutdown(self._nvml)


def _nvml_shutdown(nvml: Any) -> None:
    try:
        nvml.nvmlShutdown()
    except Exception:  # noqa: BLE001 - NVML may already be shut down; nothing to release then
        pass


def _visible_gpus(count: int) -> list[int]:
    """GPU indices this process may use: CUDA_VISIBLE_DEVICES when it lists indices, else all of them."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(range(count))
    try:
        return [i for i in (int(v) for v in visible.split(",") if v.strip()) if 0 <= i < count]
    except ValueError:  # UUIDs or MIG names: keep every GPU
        return list(range(count))


def detect_nvml(nvml: Any = None) -> tuple[EnergySource | None, str]:
    """A GPU source through NVML (`nvml` defaults to the `pynvml` module of nvidia-ml-py), or None and the reason.

    Uses the total-energy counter when every GPU has one (Volta and newer), else samples board power.
    Only the GPUs listed in CUDA_VISIBLE_DEVICES count, when it lists indices. NVML reads whole boards, so
    other processes on the same GPU are included; the idle baseline takes out their steady load.
    """
    if nvml is None:
        try:
            import pynvml as nvml
        except ImportError:
            return None, "nvidia-ml-py is not installed"
    try:
        nvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - NVMLError subclasses: no driver, no library, no GPU
        return None, f"NVML unavailable ({exc})"
    try:
        count = int(nvml.nvmlDeviceGetCount())
        handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in _visible_gpus(count)]
        names = [str(nvml.nvmlDeviceGetName(h)) for h in handles]
    except Exception as exc:  # noqa: BLE001
        _nvml_shutdown(nvml)
        return None, f"NVML could not list GPUs ({exc})"
    if not handles:
        _nvml_shutdown(nvml)
        return None, "no NVIDIA GPU"
    try:
        for h in handles:
            nvml.nvmlDeviceGetTotalEnergyConsumption(h)
        return NvmlEnergySource(nvml, handles, names), ""
    except Exception:  # noqa: BLE001 - counter not supported: fall back to power sampling
        pass
    try:
        for h in handles:
            nvml.nvmlDeviceGetPowerUsage(h)
    except Exception as exc:  # noqa: BLE001
        _nvml_shutdown(nvml)
        return None, f"NVML reports no power for these GPUs ({exc})"
    return NvmlPowerSource(nvml, handles, names), ""


def cpu_load_power(tdp_w: float, load: float) -> float:
    """codecarbon's machine-mode CPU power model: TDP x (0.1 + 0.9 x load^3), load in [0, 1]."""
    return tdp_w * (0.1 + 0.9 * load ** 3)


class CpuUtilisationSource(EnergySource):
    """Estimated CPU energy: machine-wide utilisation between polls through `cpu_load_power`, times elapsed time."""

    component: Component = "cpu"

    def __init__(self, tdp_w: float, *, method: str = "cpu_utilisation_x_tdp", detail: str = "",
                 cpu_times: Callable[[], Any] = psutil.cpu_times):
        self.tdp_w, self.method = float(tdp_w), method
        self.detail = detail or f"CPU utilisation x TDP {tdp_w:g} W"
        self._cpu_times = cpu_times
        self._last: tuple[float, float, float] | None = None
        self._joules = 0.0

    @staticmethod
    def _total_busy(times: Any) -> tuple[float, float]:
        total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
        return total, total - times.idle - getattr(times, "iowait", 0.0)

    def poll(self, now: float) -> float:
        total, busy = self._total_busy(self._cpu_times())
        if self._last is not None:
            t0, total0, busy0 = self._last
            d_total = total - total0
            load = min(max((busy - busy0) / d_total, 0.0), 1.0) if d_total > 0 else 0.0
            self._joules += cpu_load_power(self.tdp_w, load) * (now - t0)
        self._last = (now, total, busy)
        return self._joules


class ConstantPowerSource(EnergySource):
    """A component drawing a fixed power: energy = watts x elapsed time."""

    def __init__(self, component: Component, watts: float, *, method: str = "constant_power", detail: str = ""):
        self.component, self.watts, self.method = component, float(watts), method
        self.detail = detail or f"fixed {watts:g} W"
        self._t0: float | None = None

    def poll(self, now: float) -> float:
        if self._t0 is None:
            self._t0 = now
        return self.watts * (now - self._t0)


@dataclass(frozen=True)
class CpuTdp:
    """The CPU's TDP as codecarbon would pick it: its table (`cpu_power.csv`) or 4 W per thread when unknown."""

    model: str
    watts: float
    matched: str | None
    threads: int

    @property
    def method(self) -> str:
        return "cpu_utilisation_x_tdp" if self.matched else "cpu_utilisation_x_default_tdp"

    @property
    def detail(self) -> str:
        if self.matched:
            return f"{self.model}: TDP {self.watts:g} W ({self.matched} in codecarbon's cpu_power.csv)"
        return (f"{self.model or 'unknown CPU'}: not in codecarbon's cpu_power.csv, default {self.watts:g} W "
                f"(4 W per thread x {self.threads} threads)")


def cpu_model_name() -> str:
    """The CPU's model string from /proc/cpuinfo (Linux), else the platform's processor name."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or ""


@lru_cache(maxsize=64)
def cpu_tdp(model: str | None = None, *, threads: int | None = None) -> CpuTdp:
    """Look `model` (default: this machine's CPU) up in codecarbon's CPU TDP table with codecarbon's matcher."""
    from codecarbon.core.cpu import DEFAULT_POWER_PER_CORE, TDP
    from codecarbon.input import DataSource

    model = cpu_model_name() if model is None else model
    threads = threads or psutil.cpu_count(logical=True) or os.cpu_count() or 1
    table = DataSource().get_cpu_power_data()
    matcher = TDP.__new__(TDP)  # codecarbon's matching rules without its detection side effects
    matched = matcher._get_matching_cpu(model, table) if model else None
    if matched:
        return CpuTdp(model, float(matcher._get_cpu_constant_power(matched, table)), matched, threads)
    return CpuTdp(model, float(DEFAULT_POWER_PER_CORE * threads), None, threads)


def ram_model_watts() -> float:
    """This machine's RAM power from codecarbon's model (machine mode: all installed memory)."""
    from codecarbon.external.ram import RAM

    return float(RAM(tracking_mode="machine").total_power().W)


def detect_sources(*, powercap_root: str | Path = POWERCAP_ROOT, nvml: Any = None,
                   cpu_times: Callable[[], Any] = psutil.cpu_times) -> list[EnergySource]:
    """The best source for each component of this machine.

    GPU: NVML energy counter, else NVML power sampling, else none (a machine without a GPU uses none).
    CPU: RAPL package counters, else utilisation x TDP. RAM: RAPL DRAM counters, else codecarbon's RAM model.
    Raises NoEnergySourceError, naming each reason, when no component can be measured or estimated.
    """
    sources: list[EnergySource] = []
    reasons: list[str] = []
    gpu, why = detect_nvml(nvml)
    if gpu is not None:
        sources.append(gpu)
    packages, drams, why_rapl = find_rapl_domains(powercap_root)
    if packages:
        sources.append(RaplSource(packages, component="cpu"))
    else:
        try:
            cpu_times()
            tdp = cpu_tdp()
            sources.append(CpuUtilisationSource(tdp.watts, method=tdp.method, detail=f"{tdp.detail}; {why_rapl}",
                                                cpu_times=cpu_times))
        except Exception as exc:  # noqa: BLE001 - psutil cannot read CPU times here
            reasons.append(f"CPU: {why_rapl}, and CPU utilisation is unreadable ({exc})")
    if drams:
        sources.append(RaplSource(drams, component="ram"))
    else:
        try:
            sources.append(ConstantPowerSource("ram", ram_model_watts(), method="ram_codecarbon_model",
                                               detail="codecarbon RAM model (machine memory)"))
        except Exception as exc:  # noqa: BLE001 - memory size unreadable
            reasons.append(f"RAM: memory size unreadable ({exc})")
    if not sources:
        raise NoEnergySourceError(_NOTHING_MEASURABLE.format("; ".join([f"GPU: {why}", *reasons])))
    return sources
