"""EnergyMeter and its sources: integration arithmetic checked exactly with a fake clock, fake NVML and fake RAPL."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from types import SimpleNamespace
from pathlib import Path

import pytest

from auditkit.energy.meter import J_PER_KWH, EnergyMeter
from auditkit.energy.section import build_section
from auditkit.energy.sources import (ConstantPowerSource, NoEnergySourceError, NvmlEnergySource, NvmlPowerSource,
                                     ProcessCpuSource, RaplSource, detect_nvml, detect_sources, find_rapl_domains)
from auditkit.errors import AuditkitError, SettingsError


class FakeClock:
    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


class FakeNvmlError(Exception):
    pass


class FakeNvml:
    """pynvml-like: every GPU draws `watts`; its energy counter (mJ) advances at that power with the fake clock."""

    def __init__(self, clock: FakeClock, *, watts: float = 100.0, has_counter: bool = True, n_gpus: int = 1,
                 init_error: bool = False):
        self.clock, self.watts, self.has_counter = clock, watts, has_counter
        self.n, self.init_error = n_gpus, init_error
        self.shutdowns = 0

    def nvmlInit(self):
        if self.init_error:
            raise FakeNvmlError("NVML Shared Library Not Found")

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlDeviceGetCount(self):
        return self.n

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return f"Fake GPU {h}"

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if not self.has_counter:
            raise FakeNvmlError("Not Supported")
        return int(round(5_000_000 + self.watts * self.clock.t * 1000))  # mJ since driver load

    def nvmlDeviceGetPowerUsage(self, h):
        return int(round(self.watts * 1000))


def make_rapl(root: Path, zone: str, name: str, energy_uj: int, max_range: int = 262143328850) -> Path:
    d = root / zone
    d.mkdir(parents=True, exist_ok=True)
    (d / "name").write_text(name + "\n")
    (d / "max_energy_range_uj").write_text(f"{max_range}\n")
    (d / "energy_uj").write_text(f"{energy_uj}\n")
    return d


def set_uj(zone: Path, value: int) -> None:
    (zone / "energy_uj").write_text(f"{value}\n")


def test_constant_100w_gpu_power_sampling_for_one_hour_is_0_1_kwh():
    clock = FakeClock(1000.0)
    nvml = FakeNvml(clock, watts=100.0, has_counter=False)
    gpu, why = detect_nvml(nvml)
    assert isinstance(gpu, NvmlPowerSource) and why == ""
    meter = EnergyMeter("USA", [gpu], sample_interval_s=None, clock=clock)
    with meter.phase("inference", predictions=2000):
        clock.t += 3600.0
    report = meter.report()
    assert report.kwh == pytest.approx(0.1, rel=0, abs=1e-15)
    assert report.phase("inference").seconds == 3600.0
    assert report.kwh_per_1k_predictions == pytest.approx(0.05, abs=1e-15)
    assert build_section(report)["components"]["gpu"]["method"] == "nvml_power_sampling"
    assert report.method == "measured"


def test_nvml_power_trapezoid_over_changing_power():
    clock = FakeClock(0.0)
    nvml = FakeNvml(clock, has_counter=False)
    src = NvmlPowerSource(nvml, [0, 1], ["a", "b"])
    readings = [(0.0, 100.0), (10.0, 200.0), (15.0, 50.0)]  # per GPU; two GPUs sum to double
    got = []
    for t, w in readings:
        nvml.watts = w
        got.append(src.poll(t))
    # 2 GPUs x [ (100+200)/2*10 + (200+50)/2*5 ] = 2 x (1500 + 625)
    assert got == [0.0, 3000.0, 4250.0]


def test_nvml_energy_counter_preferred_and_exact():
    clock = FakeClock(50.0)
    nvml = FakeNvml(clock, watts=250.0, has_counter=True)
    gpu, _ = detect_nvml(nvml)
    assert isinstance(gpu, NvmlEnergySource)
    meter = EnergyMeter("FRA", [gpu], sample_interval_s=None, clock=clock)
    with meter.phase("training"):
        clock.t += 72.0  # 250 W x 72 s = 18,000 J = 0.005 kWh
    assert meter.report().kwh == pytest.approx(0.005, abs=1e-15)
    meter.close()
    assert nvml.shutdowns == 1


def test_only_visible_gpus_are_counted(monkeypatch):
    clock = FakeClock(0.0)
    nvml = FakeNvml(clock, watts=100.0, has_counter=False, n_gpus=4)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    gpu, _ = detect_nvml(nvml)
    assert gpu.detail == "NVML power sampling: Fake GPU 2, Fake GPU 3"
    gpu.poll(0.0)
    assert gpu.poll(10.0) == 2 * 100.0 * 10.0
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8f3a")  # UUIDs: every GPU
    assert detect_nvml(nvml)[0].detail.count("Fake GPU") == 4


@pytest.mark.gpu
def test_real_nvml_reads_a_gpu():
    gpu, why = detect_nvml()
    assert gpu is not None, why
    first = gpu.poll(0.0)
    import time

    time.sleep(0.5)
    assert first == 0.0 and gpu.poll(0.5) > 0.0
    gpu.close()


def test_nvml_unavailable_gives_reason_not_crash():
    src, why = detect_nvml(FakeNvml(FakeClock(), init_error=True))
    assert src is None and "NVML unavailable" in why and "Library Not Found" in why


def test_rapl_counter_arithmetic_and_wraparound(tmp_path):
    pkg0 = make_rapl(tmp_path, "intel-rapl:0", "package-0", 1_000_000, max_range=10_000_000)
    pkg1 = make_rapl(tmp_path, "intel-rapl:1", "package-1", 9_000_000, max_range=10_000_000)
    make_rapl(tmp_path, "intel-rapl:0:0", "core", 5)  # sub-zone overlapping the package: ignored
    dram = make_rapl(tmp_path, "intel-rapl:0:1", "dram", 0, max_range=10_000_000)
    packages, drams, why = find_rapl_domains(tmp_path)
    assert [d.name for d in packages] == ["package-0", "package-1"] and [d.name for d in drams] == ["dram"]
    assert why == ""
    cpu = RaplSource(packages)
    assert cpu.poll(0.0) == 0.0
    set_uj(pkg0, 4_000_000)   # +3 J
    set_uj(pkg1, 2_000_000)   # wrapped: 10,000,000 - 9,000,000 + 2,000,000 = +3 J
    assert cpu.poll(1.0) == 6.0
    set_uj(pkg0, 500_000)     # wrapped: +6.5 J
    set_uj(pkg1, 2_000_000)   # unchanged
    assert cpu.poll(2.0) == 12.5
    ram = RaplSource(drams, component="ram")
    ram.poll(0.0)
    set_uj(dram, 7_200_000)
    assert ram.poll(1.0) == 7.2


def test_detect_sources_uses_rapl_for_cpu_and_dram_and_meter_reports_exact_kwh(tmp_path):
    pkg = make_rapl(tmp_path, "intel-rapl:0", "package-0", 0)
    dram = make_rapl(tmp_path, "intel-rapl:0:1", "dram", 0)
    sources = detect_sources(powercap_root=tmp_path, nvml=FakeNvml(FakeClock(), init_error=True))
    assert [(s.component, s.method) for s in sources] == [("cpu", "rapl"), ("ram", "rapl")]
    clock = FakeClock()
    meter = EnergyMeter("DEU", sources, sample_interval_s=None, clock=clock)
    with meter.phase("inference", predictions=500):
        set_uj(pkg, 36_000_000)   # 36 J
        set_uj(dram, 3_600_000)   # 3.6 J
        clock.t += 2.0
    d = build_section(meter.report())
    assert d["kwh"] == pytest.approx(39.6 / J_PER_KWH, rel=1e-12)
    assert d["phases"]["inference"]["components_kwh"] == pytest.approx({"cpu": 1e-5, "ram": 1e-6}, rel=1e-12)
    assert d["kwh_per_1k_predictions"] == pytest.approx(39.6 / J_PER_KWH * 2, rel=1e-12)
    assert d["method"] == "measured"
    low, high = d["kwh_interval"]
    assert low == pytest.approx(d["kwh"] * 0.95) and high == pytest.approx(d["kwh"] * 1.05)


def test_unreadable_rapl_falls_back_to_the_process_cpu_time_estimate(tmp_path):
    zone = make_rapl(tmp_path, "intel-rapl:0", "package-0", 0)
    (zone / "energy_uj").unlink()
    (zone / "energy_uj").mkdir()  # reading fails with an OSError, as a root-only file does for other users
    packages, _, why = find_rapl_domains(tmp_path)
    assert packages == [] and "not readable" in why
    sources = detect_sources(powercap_root=tmp_path, nvml=FakeNvml(FakeClock(), init_error=True))
    cpu = next(s for s in sources if s.component == "cpu")
    assert isinstance(cpu, ProcessCpuSource) and "not readable" in cpu.detail
    assert cpu.method in ("cpu_time_x_tdp_per_thread", "cpu_time_x_default_power")


def _busy(cpu_seconds: float) -> float:
    """Spin until this process has used `cpu_seconds` more CPU time; returns the CPU time actually used."""
    start = time.process_time()
    while time.process_time() - start < cpu_seconds:
        sum(i * i for i in range(2000))
    return time.process_time() - start


class _Alone:
    """This process without its children: model workers and Ray started by other tests may still be running."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()

    def children(self, recursive: bool = False) -> list:
        return []

    def cpu_times(self):  # noqa: ANN201
        return self._process.cpu_times()


def test_cpu_time_estimate_is_cpu_seconds_times_watts_and_never_zero():
    meter = EnergyMeter("USA", [ProcessCpuSource(4.0, process=_Alone())], sample_interval_s=None)
    meter.measure_idle(seconds=0.2)  # a sleeping process: (almost) no CPU time to subtract
    with meter.phase("inference", predictions=1000):
        used = _busy(0.5)
    d = build_section(meter.report())
    phase = d["phases"]["inference"]
    assert phase["cpu_seconds"] == pytest.approx(used, abs=0.03)  # CPU clocks tick every 10 ms
    assert phase["kwh_gross"] == pytest.approx(phase["cpu_seconds"] * 4.0 / J_PER_KWH, rel=1e-12)
    assert d["kwh"] == pytest.approx(used * 4.0 / J_PER_KWH, rel=0.08) and d["kwh"] > 0
    assert (d["method"], d["method_detail"], d["watts_per_cpu_second"]) == ("estimated", "estimated from CPU time", 4.0)
    assert d["cpu_seconds"] == phase["cpu_seconds"]
    assert d["components"]["cpu"]["uncertainty_factors"] == [0.25, 4.0]
    assert d["kwh_per_1k_predictions_interval"] == pytest.approx([d["kwh_per_1k_predictions"] * 0.25,
                                                                   d["kwh_per_1k_predictions"] * 4.0], rel=1e-12)


def test_cpu_time_of_a_child_process_is_counted():
    meter = EnergyMeter("USA", [ProcessCpuSource(10.0)], sample_interval_s=None)
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass"
    with meter.phase("training"):
        subprocess.run([sys.executable, "-c", spin], check=True)
    cpu_seconds = build_section(meter.report())["phases"]["training"]["cpu_seconds"]
    assert 0.28 <= cpu_seconds < 1.5  # the child's 0.3 s (plus its interpreter start-up)


class FakeProcess:
    """psutil.Process-like: own CPU times, reaped children's times, and live children."""

    def __init__(self):
        self.own, self.reaped, self.kids = 0.0, 0.0, []

    def cpu_times(self):
        return SimpleNamespace(user=self.own, system=0.0, children_user=self.reaped, children_system=0.0)

    def children(self, recursive=False):
        return list(self.kids)


class FakeChild:
    def __init__(self, seconds):
        self.seconds, self.gone = seconds, False

    def cpu_times(self):
        if self.gone:
            import psutil

            raise psutil.NoSuchProcess(1234)
        return SimpleNamespace(user=self.seconds, system=0.0)


def test_process_cpu_source_counts_children_once_and_never_goes_down():
    proc, child = FakeProcess(), FakeChild(0.0)
    src = ProcessCpuSource(5.0, process=proc, refresh_s=0.0)
    proc.own = 10.0
    assert src.poll(0.0) == 0.0                   # the first poll is the zero point
    proc.own, proc.kids, child.seconds = 11.0, [child], 2.0
    assert src.poll(1.0) == 5.0 * 3.0             # 1 s own + 2 s of a live child
    child.gone = True                             # exited, not yet waited for: its time is unreadable
    assert src.poll(2.0) == 5.0 * 3.0 and src.cpu_seconds == 3.0
    proc.kids, proc.reaped = [], 2.5              # waited for: the system reports its final 2.5 s
    assert src.poll(3.0) == 5.0 * 3.5


def test_idle_baseline_is_subtracted_and_reported_separately():
    clock = FakeClock()
    nvml = FakeNvml(clock, watts=40.0, has_counter=True)
    gpu, _ = detect_nvml(nvml)
    ram = ConstantPowerSource("ram", 10.0, method="ram_codecarbon_model")
    meter = EnergyMeter("USA", [gpu, ram], sample_interval_s=None, clock=clock, sleep=clock.sleep)
    idle = meter.measure_idle(seconds=30.0)
    assert idle.watts == pytest.approx({"gpu": 40.0, "ram": 10.0}) and idle.seconds == 30.0
    nvml.watts = 240.0  # the model adds 200 W on the GPU
    with meter.phase("inference", predictions=1000):
        clock.t += 18.0
    d = build_section(meter.report())
    ph = d["phases"]["inference"]
    assert ph["kwh_gross"] == pytest.approx((240.0 + 10.0) * 18.0 / J_PER_KWH, rel=1e-12)
    assert ph["idle_kwh"] == pytest.approx(50.0 * 18.0 / J_PER_KWH, rel=1e-12)
    assert ph["kwh"] == pytest.approx(200.0 * 18.0 / J_PER_KWH, rel=1e-12) == d["kwh"]
    assert ph["components_kwh"]["ram"] == 0.0
    assert d["idle_baseline"] == {"seconds": 30.0, "watts": 50.0, "components_w": {"gpu": 40.0, "ram": 10.0}}
    assert d["method"] == "partly measured"


def test_report_shape_totals_over_phases_and_repeated_phases_add_up():
    clock = FakeClock()
    src = ConstantPowerSource("cpu", 36.0)
    meter = EnergyMeter("USA", [src], sample_interval_s=None, clock=clock)
    with meter.phase("load"):
        clock.t += 100.0          # 3,600 J = 0.001 kWh
    for _ in range(2):
        with meter.phase("inference", predictions=1000):
            clock.t += 50.0       # 1,800 J each
    with meter.phase("explanations"):
        clock.t += 200.0          # 7,200 J
    d = build_section(meter.report())
    assert set(d) >= {"kwh", "co2e_kg", "kwh_per_1k_predictions", "method", "region", "phases"}
    assert list(d["phases"]) == ["load", "inference", "explanations"]
    assert d["phases"]["inference"]["seconds"] == 100.0 and d["phases"]["inference"]["predictions"] == 2000
    assert d["kwh"] == pytest.approx(0.001 + 0.001 + 0.002, rel=1e-12)
    assert d["kwh_per_1k_predictions"] == pytest.approx(0.001 / 2, rel=1e-12)
    assert d["co2e_kg"] == pytest.approx(d["kwh"] * meter.carbon.g_per_kwh / 1000, rel=1e-12)
    assert d["region"] == "USA" and d["method"] == "estimated"
    assert d["kwh_interval"] == pytest.approx([d["kwh"] * 0.25, d["kwh"] * 4.0])
    assert json.loads(json.dumps(d)) == d  # plain JSON


def test_no_inference_phase_means_no_kwh_per_1k():
    clock = FakeClock()
    meter = EnergyMeter("USA", [ConstantPowerSource("cpu", 10.0)], sample_interval_s=None, clock=clock)
    with meter.phase("training"):
        clock.t += 1.0
    assert build_section(meter.report())["kwh_per_1k_predictions"] is None
    meter.set_predictions("training", 10)
    assert meter.report().phase("training").predictions == 10


def test_nested_phases_and_bad_options_raise_clear_errors():
    meter = EnergyMeter("USA", [ConstantPowerSource("cpu", 10.0)], sample_interval_s=None)
    with pytest.raises(SettingsError, match="end one phase before starting the next"):
        with meter.phase("inference"):
            with meter.phase("explanations"):
                pass
    with pytest.raises(SettingsError, match="seconds > 0"):
        meter.measure_idle(seconds=0)
    with pytest.raises(SettingsError, match="Unknown region 'XX'"):
        EnergyMeter("XX", [ConstantPowerSource("cpu", 10.0)])


def test_background_sampler_polls_during_a_phase_and_stops():
    import threading

    polled = threading.Event()

    class Counting(ConstantPowerSource):
        def poll(self, now):
            polled.set()
            return super().poll(now)

    meter = EnergyMeter("USA", [Counting("cpu", 5.0)], sample_interval_s=0.001)
    before = meter.report().samples
    with meter.phase("inference", predictions=1):
        polled.clear()
        assert polled.wait(5.0)  # the thread polled on its own inside the phase
    assert meter.report().samples > before + 2
    assert not any(t.name == "auditkit-energy-sampler" for t in threading.enumerate())


def test_nothing_measurable_raises_a_clear_auditkit_error(tmp_path, monkeypatch):
    import auditkit.energy.sources as sources

    def broken():
        raise OSError("no /proc/stat")

    class Unreadable:
        cpu_times = staticmethod(broken)

    monkeypatch.setattr(sources, "ram_model_watts", broken)
    with pytest.raises(NoEnergySourceError) as err:
        detect_sources(powercap_root=tmp_path / "none", nvml=FakeNvml(FakeClock(), init_error=True),
                       process=Unreadable())
    assert isinstance(err.value, AuditkitError)
    msg = str(err.value)
    assert "cannot be measured or estimated" in msg and "NVML unavailable" in msg and "no /proc/stat" in msg
    assert "ConstantPowerSource" in msg  # says what to do


def test_measured_section_has_no_estimate_fields_and_reads_back_exactly(tmp_path):
    from auditkit.energy.section import EnergyResult

    pkg = make_rapl(tmp_path, "intel-rapl:0", "package-0", 0)
    clock = FakeClock()
    meter = EnergyMeter("USA", [RaplSource(find_rapl_domains(tmp_path)[0])], sample_interval_s=None, clock=clock,
                        sleep=clock.sleep)
    meter.measure_idle(seconds=2.0)
    with meter.phase("inference", predictions=300):
        set_uj(pkg, 7_200_000)
        clock.t += 1.0
    d = build_section(meter.report())
    assert set(d) == {"kwh", "co2e_kg", "kwh_per_1k_predictions", "method", "region", "phases", "kwh_interval",
                      "co2e_kg_interval", "carbon_intensity", "idle_baseline", "components", "overhead"}
    assert set(d["phases"]["inference"]) == {"kwh", "seconds", "kwh_gross", "idle_kwh", "co2e_kg", "kwh_interval",
                                             "predictions", "components_kwh", "kwh_per_1k_predictions"}
    assert d["components"]["cpu"] == {"method": "rapl", "kind": "measured", "detail": "RAPL intel-rapl:0 (package-0)",
                                      "uncertainty_factors": [0.95, 1.05],
                                      "description": "Intel/AMD RAPL energy counters (/sys/class/powercap)",
                                      "kwh": 7.2 / J_PER_KWH}
    assert d["idle_baseline"] == {"seconds": 2.0, "watts": 0.0, "components_w": {"cpu": 0.0}}
    result = EnergyResult.from_dict(json.loads(json.dumps(d)))
    assert result.to_dict() == d and result.method_text == "measured" and not result.estimated
