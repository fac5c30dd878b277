"""k-anonymity of a table for chosen quasi-identifier columns (Sweeney 2002)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import pandas as pd

from auditkit.errors import DataValidationError, SettingsError


@dataclass(frozen=True)
class KAnonymityResult:
    """`k` is the size of the smallest group of rows sharing all quasi-identifier values.

    Rows in groups smaller than `threshold` are re-identifiable by anyone who knows those attributes.
    """

    quasi_identifiers: tuple[str, ...]
    k: int
    threshold: int
    n_rows: int
    n_classes: int
    classes_below: int
    rows_below: int

    @property
    def fraction_below(self) -> float:
        return self.rows_below / self.n_rows if self.n_rows else 0.0

    @property
    def passes(self) -> bool:
        return self.k >= self.threshold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"quasi_identifiers": list(self.quasi_identifiers),
                               "fraction_below": self.fraction_below, "passes": self.passes}


def k_anonymity(df: pd.DataFrame, quasi_identifiers: Sequence[str], *, threshold: int = 5) -> KAnonymityResult:
    """Equivalence classes over `quasi_identifiers` (missing values form their own value)."""
    qi = tuple(quasi_identifiers)
    if not qi:
        raise SettingsError("Choose at least one quasi-identifier column (e.g. zip code, birth year, sex).")
    missing = [c for c in qi if c not in df.columns]
    if missing:
        raise DataValidationError(f"quasi-identifier column(s) not in the data: {', '.join(missing)}. "
                                  "Fix: pick columns from the dataset.")
    if not (isinstance(threshold, int) and threshold >= 1):
        raise SettingsError(f"The k threshold must be a whole number >= 1 (commonly 5 or 10); got {threshold}.")
    if df.empty:
        raise DataValidationError("The table has no rows.")
    sizes = df[list(qi)].astype(str).value_counts(dropna=False)
    small = sizes[sizes < threshold]
    return KAnonymityResult(qi, int(sizes.min()), threshold, len(df), len(sizes), len(small), int(small.sum()))
