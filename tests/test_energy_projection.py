"""Deployment projection and training estimate: arithmetic with every assumption explicit."""
from __future__ import annotations

import pytest
import torch

from auditkit.energy.carbon import carbon_intensity
from auditkit.energy.projection import (ACCELERATORS, Accelerator, count_parameters, estimate_training,
                                        project_deployment)
from auditkit.errors import SettingsError


def test_deployment_projection_per_year():
    p = project_deployment(kwh_per_1k_predictions=0.002, predictions_per_day=50_000,
                           carbon_intensity_g_per_kwh=400.0)
    # 0.002 kWh/1k x 50 k/day = 0.1 kWh/day; x 365 = 36.5 kWh; x 0.4 kg/kWh = 14.6 kg
    assert p.kwh_per_year == pytest.approx(36.5, rel=1e-12)
    assert p.co2e_kg_per_year == pytest.approx(14.6, rel=1e-12)
    d = p.to_dict()
    assert d["pue"] == 1.0 and d["days_per_year"] == 365.0 and d["kwh_per_year"] == pytest.approx(36.5)


def test_deployment_uses_region_intensity_and_pue():
    p = project_deployment(kwh_per_1k_predictions=1.0, predictions_per_day=1000, region="fra", pue=1.5,
                           days_per_year=100)
    assert p.kwh_per_year == pytest.approx(150.0, rel=1e-12)
    assert p.region == "FRA" and p.carbon_intensity_g_per_kwh == carbon_intensity("FRA").g_per_kwh
    assert p.co2e_kg_per_year == pytest.approx(150.0 * carbon_intensity("FRA").g_per_kwh / 1000, rel=1e-12)


def test_training_estimate_from_flops():
    # 100 M params x 1 B tokens x 6 = 6e17 FLOPs; A100 312 TFLOPS x 0.4 = 124.8 TFLOPS sustained
    est = estimate_training(params=1e8, tokens=1e9, accelerator="A100", n_accelerators=8,
                            carbon_intensity_g_per_kwh=500.0)
    assert est.flops == 6e17
    hours = 6e17 / 124.8e12 / 3600
    assert est.accelerator_hours == pytest.approx(hours, rel=1e-12)
    assert est.wall_hours == pytest.approx(hours / 8, rel=1e-12)
    assert est.kwh == pytest.approx(hours * 0.4, rel=1e-12)          # 400 W
    assert est.co2e_kg == pytest.approx(hours * 0.4 * 0.5, rel=1e-12)
    d = est.to_dict()
    assert d["accelerator"]["sustained_tflops"] == pytest.approx(124.8) and d["formula"] == "6 x params x tokens"


def test_training_assumptions_are_editable():
    base = estimate_training(params=1e9, tokens=2e10, accelerator="H100", carbon_intensity_g_per_kwh=100.0)
    edited = estimate_training(params=1e9, tokens=2e10, accelerator="H100", utilisation=0.2, power_w=350.0,
                               carbon_intensity_g_per_kwh=100.0)
    # half the utilisation doubles the hours; half the power halves the kWh per hour: same kWh
    assert edited.accelerator_hours == pytest.approx(2 * base.accelerator_hours, rel=1e-12)
    assert edited.kwh == pytest.approx(base.kwh, rel=1e-12)
    custom = Accelerator("Mine", 10.0, "fp32", 100.0, 1.0, "my lab's measurement")
    own = estimate_training(params=1.0, tokens=1e12 / 6 * 3600, accelerator=custom, carbon_intensity_g_per_kwh=0)
    assert own.accelerator_hours == pytest.approx(0.1) and own.kwh == pytest.approx(0.01)
    assert ACCELERATORS["A100"].utilisation == 0.4  # the table itself is untouched


def test_bad_inputs_say_what_to_do():
    with pytest.raises(SettingsError, match="choose one of A100, H100, L4, T4, CPU"):
        estimate_training(params=1, tokens=1, accelerator="TPUv9")
    with pytest.raises(SettingsError, match=r"utilisation .* \(0, 1\]"):
        estimate_training(params=1, tokens=1, utilisation=1.5)
    with pytest.raises(SettingsError, match="at least 1"):
        project_deployment(kwh_per_1k_predictions=1, predictions_per_day=1, pue=0.5)
    with pytest.raises(SettingsError, match="predictions_per_day must be > 0"):
        project_deployment(kwh_per_1k_predictions=1, predictions_per_day=0)


def test_count_parameters():
    m = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 1))
    assert count_parameters(m) == 4 * 3 + 3 + 3 + 1


def test_equivalents_use_the_epa_figures():
    from auditkit.energy.equivalents import equivalents

    eq = {e.unit: e for e in equivalents(4600.0)}
    assert eq["car-years"].amount == pytest.approx(1.0)
    assert eq["US gallons"].amount == pytest.approx(4600.0 / 8.887)
    assert eq["km"].amount == pytest.approx(4600.0 / 0.4 * 1.609344)
    assert all("EPA-420-F-23-014" in e.source for e in eq.values())
    small = equivalents(0.0072, relatable_only=True)  # 7.2 g: 29 m of driving; no car-years
    assert [e.text() for e in small] == ["Driving an average gasoline car: 29 m"]
