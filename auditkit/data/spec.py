"""The audit spec: which column plays which role."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class AuditSpec:
    """Column roles of a dataset.

    `features` empty means: every column without another role, in file order (tabular models).
    `positive_label` is compared as a string with the label column's values.
    """

    target: str
    sensitive: tuple[str, ...]
    features: tuple[str, ...] = ()
    text_column: str | None = None
    prediction_column: str | None = None
    score_column: str | None = None
    positive_label: str = "1"
    extra: dict[str, Any] = field(default_factory=dict)

    def roles(self) -> dict[str, Any]:
        """Column roles as plain JSON."""
        d = asdict(self)
        d.pop("extra")
        d["sensitive"] = list(self.sensitive)
        d["features"] = list(self.features)
        return d

    def role_columns(self) -> set[str]:
        """Columns that have a role other than feature."""
        cols = {self.target, *self.sensitive, self.text_column, self.prediction_column, self.score_column}
        return {c for c in cols if c}
