"""Carbon intensity from codecarbon's bundled data, offline; CPU TDP from codecarbon's table."""
from __future__ import annotations

import json
import socket
from importlib.resources import files

import pytest

from auditkit.energy import carbon
from auditkit.energy.carbon import carbon_intensity, regions
from auditkit.energy.sources import cpu_tdp
from auditkit.errors import SettingsError


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    carbon.carbon_intensity.cache_clear()
    carbon._energy_mix.cache_clear()
    yield
    carbon.carbon_intensity.cache_clear()


def _codecarbon_mix() -> dict:
    path = files("codecarbon").joinpath("data/private_infra/global_energy_mix.json")
    return json.loads(path.read_text())


@pytest.mark.parametrize("code", ["FRA", "USA", "IND", "deu"])
def test_intensity_offline_equals_codecarbon_data(no_network, code):
    ci = carbon_intensity(code)
    row = _codecarbon_mix()[code.upper()]
    assert ci.region == code.upper() and ci.country_name == row["country_name"]
    assert ci.g_per_kwh == pytest.approx(row["carbon_intensity"], rel=1e-12)
    assert ci.co2e_kg(2.0) == pytest.approx(2.0 * row["carbon_intensity"] / 1000, rel=1e-12)


def test_matches_codecarbon_offline_tracker_with_network_blocked(no_network):
    """codecarbon's own OfflineEmissionsTracker, run with sockets disabled, applies the same intensity."""
    from codecarbon import OfflineEmissionsTracker

    tracker = OfflineEmissionsTracker(country_iso_code="FRA", output_methods=[], log_level="error",
                                      tracking_mode="machine", allow_multiple_runs=True)
    tracker.start()
    sum(range(200_000))
    emissions_kg = tracker.stop()
    data = tracker.final_emissions_data
    assert data.energy_consumed > 0
    assert emissions_kg / data.energy_consumed * 1000 == pytest.approx(carbon_intensity("FRA").g_per_kwh, rel=1e-9)


def test_unknown_region_is_refused_with_what_to_do():
    with pytest.raises(SettingsError, match="ISO 3166-1 alpha-3") as err:
        carbon_intensity("Narnia")
    assert "python -m auditkit energy regions" in str(err.value)


def test_regions_lists_every_country_of_the_data():
    r = regions()
    assert len(r) == len(_codecarbon_mix()) and r["FRA"] == "France" and r["USA"] == "United States"
    assert list(r.values()) == sorted(r.values())


@pytest.mark.parametrize("model, name, watts", [
    ("Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz", "Intel Xeon Gold 6248", 150.0),
    ("AMD EPYC 7763 64-Core Processor", "AMD EPYC 7763", 280.0),
])
def test_cpu_tdp_from_codecarbon_table(model, name, watts):
    from codecarbon.input import DataSource

    table = DataSource().get_cpu_power_data()
    tdp = cpu_tdp(model, threads=16, sockets=1)
    assert tdp.matched == name and tdp.watts == watts
    assert float(table.loc[table["Name"] == name, "TDP"].iloc[0]) == watts
    assert tdp.method == "cpu_time_x_tdp_per_thread"
    assert tdp.watts_per_cpu_second == watts / 16
    assert cpu_tdp(model, threads=16, sockets=2).watts_per_cpu_second == 2 * watts / 16  # two chips, 16 threads


def test_unknown_cpu_gets_codecarbon_default_per_thread():
    from codecarbon.core.cpu import DEFAULT_POWER_PER_CORE

    tdp = cpu_tdp("Totally Unknown CPU 9000", threads=6)
    assert tdp.matched is None and tdp.watts == 6 * DEFAULT_POWER_PER_CORE == 24.0
    assert tdp.watts_per_cpu_second == DEFAULT_POWER_PER_CORE == 4.0
    assert tdp.method == "cpu_time_x_default_power" and "4 W per thread" in tdp.detail
