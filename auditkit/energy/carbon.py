"""Grid carbon intensity by country, from codecarbon's bundled data (offline: no network call is made)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

from auditkit.errors import SettingsError

DEFAULT_REGION = "USA"
"""Region used when none is chosen: the United States (ISO 3166-1 alpha-3)."""

_UNKNOWN_REGION = ("Unknown region {0!r}: use an ISO 3166-1 alpha-3 country code from codecarbon's data "
                   "(e.g. USA, FRA, DEU, GBR, IND); `python -m auditkit energy regions` lists them all.")


@dataclass(frozen=True)
class CarbonIntensity:
    """Average grid carbon intensity of one country, as codecarbon's offline tracker uses it."""

    region: str
    country_name: str
    g_per_kwh: float
    year: int | None
    source: str

    def co2e_kg(self, kwh: float) -> float:
        """Emissions in kg CO2e for `kwh` of electricity."""
        return kwh * self.g_per_kwh / 1000.0

    def to_dict(self) -> dict:
        return asdict(self)


@lru_cache(maxsize=1)
def _energy_mix() -> dict:
    from codecarbon.input import DataSource

    return DataSource().get_global_energy_mix_data()


def regions() -> dict[str, str]:
    """ISO alpha-3 code -> country name, for every country in codecarbon's energy-mix data, sorted by name."""
    mix = _energy_mix()
    return dict(sorted(((code, row["country_name"]) for code, row in mix.items()), key=lambda kv: kv[1]))


@lru_cache(maxsize=256)
def carbon_intensity(region: str = DEFAULT_REGION) -> CarbonIntensity:
    """Carbon intensity of `region` computed by codecarbon's own emissions code (the path its
    `OfflineEmissionsTracker(country_iso_code=...)` takes), from the data shipped inside the package.

    Raises SettingsError for a code codecarbon has no data for (it would silently use a world average).
    """
    import codecarbon
    from codecarbon.core.emissions import Emissions
    from codecarbon.core.units import Energy
    from codecarbon.external.geography import GeoMetadata
    from codecarbon.input import DataSource

    code = (region or "").strip().upper()
    mix = _energy_mix()
    if code not in mix:
        raise SettingsError(_UNKNOWN_REGION.format(region))
    row = mix[code]
    kg_per_kwh = Emissions(DataSource()).get_private_infra_emissions(
        Energy.from_energy(kWh=1.0), GeoMetadata(country_iso_code=code, country_name=row["country_name"]))
    return CarbonIntensity(
        region=code, country_name=row["country_name"], g_per_kwh=float(kg_per_kwh) * 1000.0,
        year=row.get("year"),
        source=f"codecarbon {codecarbon.__version__} global_energy_mix.json (Our World in Data energy mix)")
