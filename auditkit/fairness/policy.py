"""Default pass/fail thresholds for the disparities, and the plain-language sentence for each verdict.

Defaults follow common practice: a demographic parity difference of at most 0.1, a selection-rate ratio of at least
0.8 (the US EEOC "four-fifths rule"), and an equalized odds difference of at most 0.1. Callers may pass their own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

DEMOGRAPHIC_PARITY_DIFFERENCE_MAX = 0.1
DEMOGRAPHIC_PARITY_RATIO_MIN = 0.8
EQUALIZED_ODDS_DIFFERENCE_MAX = 0.1
FOUR_FIFTHS = 0.8

DEFAULT_THRESHOLDS: dict[str, tuple[Literal["max", "min"], float]] = {
    "demographic_parity_difference": ("max", DEMOGRAPHIC_PARITY_DIFFERENCE_MAX),
    "demographic_parity_ratio": ("min", DEMOGRAPHIC_PARITY_RATIO_MIN),
    "equalized_odds_difference": ("max", EQUALIZED_ODDS_DIFFERENCE_MAX),
}


@dataclass(frozen=True)
class Check:
    """One disparity judged against its threshold; `passed` is None when the value is undefined."""

    metric: str
    value: float
    kind: Literal["max", "min"]
    limit: float
    passed: bool | None

    def to_dict(self) -> dict:
        return {
            "value": None if math.isnan(self.value) else self.value,
            self.kind: self.limit,
            "passed": self.passed,
        }


def judge(values: dict[str, float], thresholds: dict[str, tuple[Literal["max", "min"], float]]) -> dict[str, Check]:
    """Pass/fail of each thresholded disparity."""
    out = {}
    for metric, (kind, limit) in thresholds.items():
        v = float(values[metric])
        passed = None if math.isnan(v) else (v <= limit if kind == "max" else v >= limit)
        out[metric] = Check(metric, v, kind, limit, passed)
    return out


def describe_group(attributes: tuple[str, ...], group: str) -> str:
    values = group.split("&") if len(attributes) > 1 else [group]
    if len(values) != len(attributes):
        return f"{'&'.join(attributes)}={group}"
    return ", ".join(f"{a}={v}" for a, v in zip(attributes, values))


def four_fifths_sentence(
    attributes: tuple[str, ...], least: str, most: str, ratio: float, pos_label: str
) -> str:
    """E.g. "sex=F receives the positive prediction ('1') at 0.60x the rate of sex=M: below the four-fifths rule"."""
    if math.isnan(ratio):
        return f"No group receives the positive prediction ({pos_label!r}), so selection rates cannot be compared."
    verdict = "below the four-fifths rule" if ratio < FOUR_FIFTHS else "within the four-fifths rule"
    return (
        f"{describe_group(attributes, least)} receives the positive prediction ({pos_label!r}) at {ratio:.2f}x "
        f"the rate of {describe_group(attributes, most)}: {verdict}."
    )


def check_sentence(check: Check, attributes: tuple[str, ...]) -> str:
    """One sentence per thresholded disparity, for reviewers."""
    label = "&".join(attributes)
    what = {
        "demographic_parity_difference": "the gap in positive-prediction rates between groups",
        "demographic_parity_ratio": "the lowest group positive-prediction rate divided by the highest",
        "equalized_odds_difference": "the largest gap in true- or false-positive rates between groups",
    }.get(check.metric, check.metric.replace("_", " "))
    if check.passed is None:
        return f"For {label}, {what} is undefined."
    bound = "at most" if check.kind == "max" else "at least"
    verdict = "passes" if check.passed else "fails"
    return f"For {label}, {what} is {check.value:.3f}; the policy asks for {bound} {check.limit:g}: {verdict}."
