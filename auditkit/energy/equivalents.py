"""Relatable equivalents of an amount of CO2e, each with its published source."""
from __future__ import annotations

from dataclasses import asdict, dataclass

_EPA_VEHICLE = ("US EPA, 'Greenhouse Gas Emissions from a Typical Passenger Vehicle' (EPA-420-F-23-014, 2023): "
                "about 400 g CO2 per mile, 4.6 metric tons CO2 per year, 8,887 g CO2 per gallon of gasoline")


@dataclass(frozen=True)
class Factor:
    """kg CO2e per unit of a familiar activity."""

    label: str
    unit: str
    kg_per_unit: float
    source: str


FACTORS: tuple[Factor, ...] = (
    Factor("Driving an average gasoline car", "km", 0.400 / 1.609344, _EPA_VEHICLE),
    Factor("Gasoline burned", "US gallons", 8.887, _EPA_VEHICLE),
    Factor("A typical passenger car for a year", "car-years", 4600.0, _EPA_VEHICLE),
)


@dataclass(frozen=True)
class Equivalent:
    label: str
    amount: float
    unit: str
    source: str

    def to_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        """'Driving an average gasoline car: 29 m' (short distances in metres)."""
        if self.unit == "km" and self.amount < 1:
            return f"{self.label}: {self.amount * 1000:.3g} m"
        return f"{self.label}: {self.amount:.3g} {self.unit}"


def equivalents(co2e_kg: float, *, relatable_only: bool = False) -> list[Equivalent]:
    """`co2e_kg` expressed in each factor's unit. `relatable_only` drops amounts below 0.01 of a unit
    (a millionth of a car-year says nothing), but always keeps the driving distance."""
    out = [Equivalent(f.label, co2e_kg / f.kg_per_unit, f.unit, f.source) for f in FACTORS]
    return [e for e in out if e.unit == "km" or e.amount >= 0.01] if relatable_only else out
