"""The Energy page renders a seeded audit: cards, phase chart, region switch, projection, training form, variants."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from streamlit.testing.v1 import AppTest

from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.energy.carbon import carbon_intensity
from auditkit.chart_style import OKABE_ITO
from auditkit.energy.meter import EnergyMeter
from auditkit.energy.phase_chart import phase_bars
from auditkit.energy.section import EnergyResult, build_section, phases_frame
from auditkit.energy.sources import ConstantPowerSource, ProcessCpuSource
from auditkit.tabular import TabularMLP, export_tabular

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "energy.py")


class Clock:
    t = 0.0

    def __call__(self):
        return self.t


def _section() -> dict:
    clock = Clock()
    meter = EnergyMeter("USA", [ConstantPowerSource("cpu", 36.0), ConstantPowerSource("ram", 3.6)],
                        sample_interval_s=None, clock=clock)
    with meter.phase("load"):
        clock.t += 100.0
    with meter.phase("inference", predictions=4000):
        clock.t += 1000.0   # 39.6 W x 1000 s = 0.011 kWh
    return build_section(meter.report())


def _context(tmp_path) -> AuditContext:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(120, 3)).astype(np.float32), columns=["a", "b", "c"])
    frame["g"] = rng.choice(["x", "y"], 120)
    frame["label"] = rng.choice(["0", "1"], 120)
    torch.manual_seed(0)
    settings = Settings(home=tmp_path / "home")
    model = load_model(export_tabular(TabularMLP(3, hidden=(8,)), 3, tmp_path / "m.pt2"), settings=settings)
    spec = AuditSpec(target="label", sensitive=("g",), features=("a", "b", "c"))
    return AuditContext(spec, frame, "b" * 64, frame["label"].to_numpy(str), frame["label"].to_numpy(str), None,
                        ("0", "1"), settings, model=model)


def _app(section: dict | None, ctx=None, tab: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["audit"] = {"energy": section} if section is not None else {}
    if tab is not None:
        at.session_state["energy_tab"] = tab
    if ctx is not None:
        at.session_state["audit_context"] = ctx
    return at.run()


def test_without_audit_shows_empty_state_and_training_form():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert any("No audit yet" in i.value for i in at.info)
    metrics = {m.label: m.value for m in at.metric}
    assert "Accelerator-hours" in metrics


def test_cards_chart_region_switch_and_projection():
    section = _section()
    at = _app(section)
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Energy (kWh)"] == f"{section['kwh']:.3g}" == "0.0121"
    assert metrics["kWh per 1,000 predictions"] == f"{0.011 / 4:.3g}"
    assert metrics["Method"] == "estimated"
    assert metrics["CO2e (kg, USA)"] == f"{section['co2e_kg']:.3g}"
    assert len(at.get("plotly_chart")) == 1  # only the chosen tab ("This run") runs
    assert "kWh per year" not in metrics
    assert not at.dataframe  # the tables behind the chart are sent once opened
    at.session_state["phases_data"] = at.session_state["components_data"] = True
    at.run()
    assert [set(d.value["component"]) for d in at.dataframe] == [{"cpu", "ram"}] * 2
    at.selectbox(key="energy_region").set_value("FRA").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["CO2e (kg, FRA)"] == f"{section['kwh'] * carbon_intensity('FRA').g_per_kwh / 1000:.3g}"
    assert metrics["Energy (kWh)"] == "0.0121"
    assert any("Driving an average gasoline car" in m.value for m in at.markdown)


def test_projection_tab():
    at = _app(_section(), tab="Deployment projection")
    assert not at.exception
    # 100,000/day x 0.00275 kWh per 1k = 0.275 kWh/day -> 100.375 kWh/year
    assert {m.label: m.value for m in at.metric}["kWh per year"] == f"{100.375:.3g}"
    assert not at.get("plotly_chart")


def test_predictions_only_audit_says_why_no_energy():
    at = _app(None)
    assert not at.exception
    assert any("stored predictions only" in i.value for i in at.info)


def test_unmeasurable_section_shows_the_reason():
    from auditkit.energy.section import unavailable_section

    at = _app(unavailable_section("Energy cannot be measured or estimated on this machine: test", region="deu"))
    assert not at.exception
    assert any("cannot be measured" in w.value for w in at.warning)


def test_variants_table_renders(tmp_path):
    ctx = _context(tmp_path)
    at = _app(_section(), ctx, tab="Efficiency variants")
    at.toggle(key="energy_variants").set_value(True).run()
    assert not at.exception
    names = [str(n) for df in at.dataframe for n in df.value.get("name", [])]
    assert "fp32" in names and "int8-dynamic" in names


def test_section_helpers():
    section = _section()
    result = EnergyResult.from_dict(section)
    assert result.to_dict() == section
    fra = result.in_region("FRA")
    assert fra.kwh == section["kwh"] and fra.region == "FRA"
    assert fra.co2e_kg == pytest.approx(section["kwh"] * carbon_intensity("FRA").g_per_kwh / 1000)
    assert fra.phase("inference").co2e_kg == pytest.approx(0.011 * carbon_intensity("FRA").g_per_kwh / 1000)
    assert fra.co2e_kg_interval == pytest.approx((fra.co2e_kg * 0.25, fra.co2e_kg * 4.0))
    table = phases_frame(result)
    assert set(table["phase"]) == {"load", "inference"}
    assert table["kwh"].sum() == pytest.approx(section["kwh"])
    assert table.loc[(table.phase == "inference") & (table.component == "ram"), "kwh"].item() == \
        pytest.approx(3.6 * 1000 / 3.6e6)


def test_phase_bars_stack_each_components_kwh_per_phase():
    section = _section()
    fig = phase_bars(EnergyResult.from_dict(section))
    assert fig.layout.barmode == "stack"
    bars = {t.name: dict(zip(t.x, t.y)) for t in fig.data}
    assert bars["cpu"]["inference"] == pytest.approx(36.0 * 1000 / 3.6e6)
    assert bars["ram"]["load"] == pytest.approx(3.6 * 100 / 3.6e6)
    assert sum(sum(b.values()) for b in bars.values()) == pytest.approx(section["kwh"])
    assert [t.marker.color for t in fig.data] == [OKABE_ITO[0], OKABE_ITO[2]]  # cpu, ram


class _Process:
    """psutil.Process-like with a settable CPU time and no children."""

    seconds = 0.0

    def cpu_times(self):
        return SimpleNamespace(user=self.seconds, system=0.0, children_user=0.0, children_system=0.0)

    def children(self, recursive=False):
        return []


def test_estimate_from_cpu_time_says_so_with_its_interval():
    clock, proc = Clock(), _Process()
    meter = EnergyMeter("USA", [ProcessCpuSource(4.0, process=proc)], sample_interval_s=None, clock=clock)
    with meter.phase("inference", predictions=4000):
        clock.t, proc.seconds = 60.0, 30.0   # 30 CPU-seconds x 4 W = 120 J
    at = _app(build_section(meter.report()))
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["Energy (kWh)"] == f"{120 / 3.6e6:.3g}"
    kwh, per1k = 120 / 3.6e6, 120 / 3.6e6 / 4
    assert (f"Estimated from CPU time (30 CPU-seconds x 4 W per CPU-second; the CPU has no readable energy counter): "
            f"{kwh / 4:.3g} to {kwh * 4:.3g} kWh") in at.caption[0].value
    assert f"{per1k / 4:.3g} to {per1k * 4:.3g} kWh per 1,000 predictions" in at.caption[0].value
