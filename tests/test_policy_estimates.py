"""Policy rules on energy figures: measured values are judged as they are, estimates on their whole uncertainty
interval, and a figure that was not measured is never a pass (the default policy's kWh-per-1,000-predictions rule)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from auditkit.energy.meter import J_PER_KWH, EnergyMeter
from auditkit.energy.section import build_section, unavailable_section
from auditkit.energy.sources import ProcessCpuSource, RaplDomain, RaplSource
from auditkit.policy import evaluate, load_policy, parse_policy

RULE = "kwh_per_1k_predictions"  # default policy: at most 0.05 kWh per 1,000 predictions


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


class Process:
    """psutil.Process-like: CPU time set by the test, no children."""

    seconds = 0.0

    def cpu_times(self):
        return SimpleNamespace(user=self.seconds, system=0.0, children_user=0.0, children_system=0.0)

    def children(self, recursive=False):
        return []


def estimated_run(kwh_per_1k: float) -> dict:
    """An energy section estimated from CPU time (4 W per CPU-second, interval x0.25 to x4) with this figure."""
    clock, proc = Clock(), Process()
    meter = EnergyMeter("USA", [ProcessCpuSource(4.0, process=proc)], sample_interval_s=None, clock=clock)
    with meter.phase("inference", predictions=1000):
        clock.t, proc.seconds = 100.0, kwh_per_1k * J_PER_KWH / 4.0
    return build_section(meter.report())


def measured_run(kwh_per_1k: float, tmp_path) -> dict:
    """An energy section measured by a RAPL counter with this figure."""
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "energy_uj").write_text("0")
    meter = EnergyMeter("USA", [RaplSource([RaplDomain(zone, "package-0", 2 ** 60)])], sample_interval_s=None,
                        clock=Clock())
    with meter.phase("inference", predictions=1000):
        (zone / "energy_uj").write_text(str(round(kwh_per_1k * J_PER_KWH * 1e6)))
    return build_section(meter.report())


def judged(energy: dict):
    return evaluate({"energy": energy}, load_policy(None)).by_name()[RULE]


def test_measured_figure_is_judged_on_its_value(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    energy = measured_run(0.049, tmp_path / "a")
    assert energy["method"] == "measured" and "kwh_per_1k_predictions_interval" not in energy
    line = judged(energy)
    assert (line.status, line.interval) == ("pass", None) and line.value == pytest.approx(0.049)
    assert judged(measured_run(0.051, tmp_path / "b")).status == "fail"


@pytest.mark.parametrize("figure, status, phrase", [
    (0.01, "pass", "the whole interval is within the bound (≤ 0.05)"),
    (0.02, "not_measured", "the interval straddles the bound (≤ 0.05), so the estimate cannot decide"),
    (0.3, "fail", "the whole interval is above the maximum 0.05"),
])
def test_estimate_is_judged_on_its_whole_interval(figure, status, phrase):
    energy = estimated_run(figure)
    assert energy["method_detail"] == "estimated from CPU time"
    line = judged(energy)
    assert line.status == status and line.value == pytest.approx(figure)
    assert line.interval == pytest.approx((figure * 0.25, figure * 4.0))
    assert phrase in line.message
    assert line.to_dict()["interval"] == pytest.approx([figure * 0.25, figure * 4.0])


def test_estimate_below_a_minimum_fails_only_when_the_whole_interval_is_below():
    policy = parse_policy("rules: {kwh_per_1k_predictions: {min: 1.0}}")
    by = {f: evaluate({"energy": estimated_run(f)}, policy).by_name()[RULE] for f in (0.2, 0.5, 5.0)}
    assert [by[f].status for f in (0.2, 0.5, 5.0)] == ["fail", "not_measured", "pass"]
    assert "the whole interval is below the minimum 1" in by[0.2].message


def test_unmeasured_figure_is_not_measured_never_pass():
    line = judged(unavailable_section("Energy cannot be measured or estimated on this machine: test"))
    assert (line.status, line.value) == ("not_measured", None)
    assert line.message == "kwh_per_1k_predictions: not measured (energy.kwh_per_1k_predictions is null)"


def test_estimate_without_an_interval_cannot_pass():
    energy = {"kwh": 2.53e-19, "kwh_per_1k_predictions": 2.53e-19, "method": "estimated"}  # an older audit
    line = judged(energy)
    assert line.status == "not_measured" and "estimate without an uncertainty interval" in line.message
    required = parse_policy("rules: {kwh_per_1k_predictions: {max: 0.05, required: true}}")
    assert evaluate({"energy": estimated_run(0.02)}, required).by_name()[RULE].status == "fail"
