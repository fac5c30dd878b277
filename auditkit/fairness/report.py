"""Result objects of a fairness assessment and their JSON form (the `fairness` section of audit.json)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from auditkit.fairness.bootstrap import Intervals
from auditkit.fairness.metrics import DISPARITIES, GROUP_METRICS
from auditkit.fairness.policy import Check, check_sentence


def _num(value: float) -> float | None:
    """A JSON number; NaN (undefined) becomes null."""
    v = float(value)
    return None if math.isnan(v) else v


def _pair(values) -> list[float | None]:
    return [_num(values[0]), _num(values[1])]


@dataclass(frozen=True)
class FourFifths:
    """Disparate-impact verdict: lowest selection rate / highest selection rate >= 0.8."""

    ratio: float
    passed: bool | None
    most_favoured: str
    least_favoured: str
    sentence: str

    def to_dict(self) -> dict:
        return {
            "ratio": _num(self.ratio),
            "passed": self.passed,
            "most_favoured": self.most_favoured,
            "least_favoured": self.least_favoured,
            "sentence": self.sentence,
        }


@dataclass(frozen=True)
class GroupingReport:
    """Metrics of one sensitive attribute or one intersection of attributes."""

    name: str
    attributes: tuple[str, ...]
    groups: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]
    metrics: dict[str, np.ndarray]
    disparities: dict[str, float]
    four_fifths: FourFifths
    checks: dict[str, Check]
    intervals: Intervals | None
    roc_auc: np.ndarray | None
    calibration: list[list[dict[str, float]]] | None
    small_groups: dict[str, int]
    warnings: tuple[str, ...]

    def by_group(self) -> pd.DataFrame:
        """One row per group, one column per metric (and roc_auc with scores)."""
        index = pd.Index(self.groups, name=self.name)
        df = pd.DataFrame({name: self.metrics[name] for name in GROUP_METRICS}, index=index)
        df["count"] = df["count"].astype(np.int64)
        if self.roc_auc is not None:
            df["roc_auc"] = self.roc_auc
        return df

    def heatmap(self, metric: str) -> pd.DataFrame:
        """A two-attribute intersection's metric as a table: first attribute down, second across (NaN: no rows)."""
        if len(self.attributes) != 2:
            raise ValueError(f"{self.name!r} is not an intersection of two attributes")
        values = self.roc_auc if metric == "roc_auc" else self.metrics[metric]
        long = pd.DataFrame(self.levels, columns=list(self.attributes)).assign(value=values)
        return long.pivot(index=self.attributes[0], columns=self.attributes[1], values="value")

    def intervals_frame(self) -> pd.DataFrame:
        """Long table: group, metric, value, ci_low, ci_high (empty intervals without a bootstrap)."""
        rows = []
        for name in GROUP_METRICS:
            if name == "count":
                continue
            for i, g in enumerate(self.groups):
                ci = self.intervals.group[name][i] if self.intervals else (np.nan, np.nan)
                rows.append((g, name, float(self.metrics[name][i]), float(ci[0]), float(ci[1])))
        return pd.DataFrame(rows, columns=["group", "metric", "value", "ci_low", "ci_high"])

    def to_dict(self) -> dict:
        by_group = {}
        for i, g in enumerate(self.groups):
            entry: dict = {"count": int(self.metrics["count"][i])}
            entry.update({name: _num(self.metrics[name][i]) for name in GROUP_METRICS if name != "count"})
            if self.roc_auc is not None:
                entry["roc_auc"] = _num(self.roc_auc[i])
            if self.calibration is not None:
                entry["calibration"] = self.calibration[i]
            if self.intervals is not None:
                entry["ci95"] = {name: _pair(ci[i]) for name, ci in self.intervals.group.items()}
            by_group[g] = entry
        out: dict = {"by_group": by_group}
        out.update({name: _num(self.disparities[name]) for name in DISPARITIES})
        out["four_fifths_rule"] = self.four_fifths.to_dict()
        out["checks"] = {
            name: {**check.to_dict(), "sentence": check_sentence(check, self.attributes)}
            for name, check in self.checks.items()
        }
        if self.intervals is not None:
            out["ci95"] = {name: _pair(ci) for name, ci in self.intervals.disparity.items()}
        out["small_groups"] = dict(self.small_groups)
        out["warnings"] = list(self.warnings)
        return out


@dataclass(frozen=True)
class FairnessReport:
    """Every grouping's report, attributes first, then intersections ("a&b")."""

    groupings: tuple[GroupingReport, ...]
    pos_label: str
    n_rows: int
    n_boot: int
    seed: int
    min_group_size: int

    def __getitem__(self, name: str) -> GroupingReport:
        for g in self.groupings:
            if g.name == name:
                return g
        raise KeyError(f"no grouping {name!r}; available: {', '.join(self.names)}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.groupings)

    @property
    def passed(self) -> bool:
        """True when no thresholded disparity of any grouping fails."""
        return not any(c.passed is False for g in self.groupings for c in g.checks.values())

    def to_dict(self) -> dict:
        """The `fairness` section of audit.json: one entry per attribute and per intersection."""
        return {g.name: g.to_dict() for g in self.groupings}
