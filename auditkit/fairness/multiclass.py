"""Multiclass models: the binary assessment one-vs-rest for every class, plus the macro view (mean over classes)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from auditkit.errors import DataValidationError
from auditkit.fairness import validation
from auditkit.fairness.assessment import assess
from auditkit.fairness.counts import build_partition
from auditkit.fairness.metrics import DISPARITIES, GROUP_METRICS
from auditkit.fairness.policy import DEFAULT_THRESHOLDS, check_sentence, judge
from auditkit.fairness.report import FairnessReport

TOO_FEW_CLASSES = "A one-vs-rest assessment needs at least three classes in y_true; found {found}. Use `assess`."
MACRO_METRICS = tuple(m for m in GROUP_METRICS if m not in ("count", "selection_rate", "accuracy"))


def _rest(label: str) -> str:
    return f"not {label}"


@dataclass(frozen=True)
class MulticlassReport:
    """One binary `FairnessReport` per class (that class against the rest)."""

    classes: tuple[str, ...]
    per_class: dict[str, FairnessReport]
    accuracy: dict[str, np.ndarray]  # per grouping: share of each group's rows predicted exactly right

    @property
    def names(self) -> tuple[str, ...]:
        return self.per_class[self.classes[0]].names

    def macro_disparities(self, name: str) -> dict[str, float]:
        """Each disparity of one grouping averaged over the classes (NaN classes left out)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a disparity undefined for every class stays NaN
            return {d: float(np.nanmean([self.per_class[c][name].disparities[d] for c in self.classes]))
                    for d in DISPARITIES}

    def macro_by_group(self, name: str) -> pd.DataFrame:
        """Per group: count, accuracy over all classes, and one-vs-rest metrics averaged over classes."""
        frames = [self.per_class[c][name].by_group() for c in self.classes]
        macro = sum(f[list(MACRO_METRICS)] for f in frames) / len(frames)
        macro.insert(0, "accuracy", self.accuracy[name])
        macro.insert(0, "count", frames[0]["count"])
        return macro

    def to_dict(self) -> dict:
        """Same shape as the binary section per grouping (macro numbers), plus `one_vs_rest` per class."""
        out = {}
        for name in self.names:
            by_group = self.macro_by_group(name)
            disp = self.macro_disparities(name)
            checks = judge(disp, DEFAULT_THRESHOLDS)
            attributes = self.per_class[self.classes[0]][name].attributes
            entry = {
                "by_group": {str(g): {k: (int(v) if k == "count" else (None if np.isnan(v) else float(v)))
                                      for k, v in row.items()} for g, row in by_group.iterrows()},
                **{d: (None if np.isnan(v) else v) for d, v in disp.items()},
                "checks": {m: {**c.to_dict(), "sentence": check_sentence(c, attributes)} for m, c in checks.items()},
                "averaging": "macro over classes, one-vs-rest",
                "one_vs_rest": {c: self.per_class[c][name].to_dict() for c in self.classes},
            }
            out[name] = entry
        return out


def assess_multiclass(y_true: Any, y_pred: Any, sensitive_features: Any, **options: Any) -> MulticlassReport:
    """`assess` for each class c with labels mapped to c / "not c"; options are passed through to `assess`."""
    yt = np.asarray(y_true).astype(str)
    yp = np.asarray(y_pred).astype(str)
    seen = set(pd.unique(yt))
    if len(seen) < 3:
        raise DataValidationError(TOO_FEW_CLASSES.format(found=", ".join(sorted(seen))))
    classes = tuple(sorted(seen | set(pd.unique(yp))))
    per_class = {
        c: assess(np.where(yt == c, c, _rest(c)), np.where(yp == c, c, _rest(c)), sensitive_features, pos_label=c,
                  **options)
        for c in classes
    }
    partition = build_partition(validation.sensitive_frame(sensitive_features, len(yt)),
                                intersections=options.get("intersections", True))
    correct = np.bincount(partition.row_cell, weights=yt == yp, minlength=partition.n_cells)
    total = np.bincount(partition.row_cell, minlength=partition.n_cells)
    accuracy = {
        g.name: np.bincount(g.cell_group, weights=correct) / np.bincount(g.cell_group, weights=total)
        for g in partition.groupings
    }
    return MulticlassReport(classes, per_class, accuracy)
