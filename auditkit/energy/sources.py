"""Power and energy sources: each reports the cumulative energy (joules) of one component since its first poll.

Counters (RAPL, NVML total energy) are read directly; sampled power (NVML board power) is integrated with the
trapezoid rule; estimates (this process's CPU time x a power per CPU-second, codecarbon's RAM model) turn a
modelled power into energy.
Every source names its component and its method (see `auditkit.energy.methods.METHODS`).
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Sequence

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


class ProcessCpuSource(EnergySource):
    """Estimated CPU energy: this process's CPU time (its threads and child processes) x a power per CPU-second.

    One CPU-second is one logical CPU busy for one second, so other processes on the machine are not counted.
    Child processes are listed again at most every `refresh_s` seconds (listing reads every process on the
    machine); children that have ended and were waited for are counted by the operating system
    (`children_user`, `children_system`). The reading never goes down: a child's time that is briefly
    unreadable (it has exited but was not yet waited for) is not counted twice when it comes back.
    """

    component: Component = "cpu"

    def __init__(self, watts_per_cpu_second: float, *, method: str = "cpu_time_x_default_power", detail: str = "",
                 process: Any = None, refresh_s: float = 1.0):
        self.watts_per_cpu_second, self.method = float(watts_per_cpu_second), method
        self.detail = detail or f"process CPU time x {watts_per_cpu_second:g} W per CPU-second"
        self._process = process if process is not None else psutil.Process()
        self._refresh_s = refresh_s
        self._children: list[Any] = []
        self._listed: float | None = None
        self._first: float | None = None
        self._seconds = 0.0

    def _cpu_seconds(self, now: float) -> float:
        if self._listed is None or now - self._listed >= self._refresh_s:
            try:
                self._children = self._process.children(recursive=True)
            except psutil.Error:
                self._children = []
            self._listed = now
        t = self._process.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        for child in self._children:
            try:
                c = child.cpu_times()
            except psutil.Error:
                continue
            total += c.user + c.system
        return total

    @property
    def cpu_seconds(self) -> float:
        """CPU-seconds used since the first poll."""
        return self._seconds

    def poll(self, now: float) -> float:
        total = self._cpu_seconds(now)
        if self._first is None:
            self._first = total
        self._seconds = max(self._seconds, total - self._first)
        return self._seconds * self.watts_per_cpu_second


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
    sockets: int = 1

    @property
    def watts_per_cpu_second(self) -> float:
        """Power of one logical CPU kept busy: the chips' TDP shared over their threads (4 W when unknown)."""
        if self.matched:
            return self.watts * self.sockets / self.threads
        return self.watts / self.threads

    @property
    def method(self) -> str:
        return "cpu_time_x_tdp_per_thread" if self.matched else "cpu_time_x_default_power"

    @property
    def detail(self) -> str:
        per = f"{self.watts_per_cpu_second:.3g} W per CPU-second"
        if self.matched:
            chips = f"{self.sockets} x " if self.sockets > 1 else ""
            return (f"{self.model}: {per} ({chips}TDP {self.watts:g} W of {self.matched} in codecarbon's "
                    f"cpu_power.csv over {self.threads} threads)")
        return (f"{self.model or 'unknown CPU'}: not in codecarbon's cpu_power.csv, {per} "
                f"(codecarbon's default of 4 W per thread)")


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def cpu_model_name() -> str:
    """The CPU's model string from /proc/cpuinfo (Linux), else the platform's processor name."""
    for line in _cpuinfo():
        if line.lower().startswith("model name"):
            return line.split(":", 1)[1].strip()
    import platform

    return platform.processor() or ""


def cpu_sockets() -> int:
    """Number of physical CPU packages (distinct `physical id` in /proc/cpuinfo); 1 when unknown."""
    ids = {line.split(":", 1)[1].strip() for line in _cpuinfo() if line.lower().startswith("physical id")}
    return max(len(ids), 1)


@lru_cache(maxsize=64)
def cpu_tdp(model: str | None = None, *, threads: int | None = None, sockets: int | None = None) -> CpuTdp:
    """Look `model` (default: this machine's CPU) up in codecarbon's CPU TDP table with codecarbon's matcher.

    `threads` (logical CPUs) and `sockets` (CPU packages) default to this machine's.
    """
    from codecarbon.core.cpu import DEFAULT_POWER_PER_CORE, TDP
    from codecarbon.input import DataSource

    model = cpu_model_name() if model is None else model
    threads = threads or psutil.cpu_count(logical=True) or os.cpu_count() or 1
    sockets = sockets or cpu_sockets()
    table = DataSource().get_cpu_power_data()
    matcher = TDP.__new__(TDP)  # codecarbon's matching rules without its detection side effects
    matched = matcher._get_matching_cpu(model, table) if model else None
    if matched:
        return CpuTdp(model, float(matcher._get_cpu_constant_power(matched, table)), matched, threads, sockets)
    return CpuTdp(model, float(DEFAULT_POWER_PER_CORE * threads), None, threads, sockets)


def ram_model_watts() -> float:
    """This machine's RAM power from codecarbon's model (machine mode: all installed memory)."""
    from codecarbon.external.ram import RAM

    return float(RAM(tracking_mode="machine").total_power().W)


def detect_sources(*, powercap_root: str | Path = POWERCAP_ROOT, nvml: Any = None,
                   process: Any = None) -> list[EnergySource]:
    """The best source for each component of this machine.

    GPU: NVML energy counter, else NVML power sampling, else none (a machine without a GPU uses none).
    CPU: RAPL package counters, else the CPU time of `process` (default: this one) x a power per CPU-second.
    RAM: RAPL DRAM counters, else codecarbon's RAM model.
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
            process = psutil.Process() if process is None else process
            process.cpu_times()
            tdp = cpu_tdp()
            sources.append(ProcessCpuSource(tdp.watts_per_cpu_second, method=tdp.method,
                                            detail=f"{tdp.detail}; {why_rapl}", process=process))
        except Exception as exc:  # noqa: BLE001 - psutil cannot read this process's CPU time here
            reasons.append(f"CPU: {why_rapl}, and this process's CPU time is unreadable ({exc})")
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
