"""Aggregates of attributions: global importance, per-group means and the between-group difference."""
from __future__ import annotations

import numpy as np
import pandas as pd

from auditkit.explain.base import Attribution


def global_importance(attribution: Attribution) -> dict[str, float]:
    """Mean |SHAP| per feature, largest first."""
    return attribution.global_importance()


def by_group_importance(attribution: Attribution, sensitive: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """Mean SHAP value per feature within each group of each sensitive column: {attr: {group: {feature: mean}}}.

    `sensitive` has one row per explained row (same order as `attribution.values`).
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    names = attribution.feature_names
    for col in sensitive.columns:
        groups = sensitive[col].astype(str).to_numpy()
        out[str(col)] = {
            g: dict(zip(names, map(float, attribution.values[groups == g].mean(axis=0))))
            for g in sorted(set(groups))
        }
    return out


def group_difference(by_group: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per sensitive column, max minus min group mean SHAP per feature, largest first: which features drive a gap."""
    out: dict[str, dict[str, float]] = {}
    for col, groups in by_group.items():
        frame = pd.DataFrame(groups)  # features x groups
        diff = (frame.max(axis=1) - frame.min(axis=1)).sort_values(ascending=False, kind="stable")
        out[col] = {str(k): float(v) for k, v in diff.items()}
    return out


def rank_agreement(reference: dict[str, float], other: dict[str, float]) -> dict[str, object]:
    """Spearman rank correlation of two importance maps (None when either is constant) and the features whose
    rank differs, largest move first."""
    from scipy.stats import spearmanr

    feats = list(reference)
    a = np.array([reference[f] for f in feats])
    b = np.array([other.get(f, 0.0) for f in feats])
    rank_a = pd.Series(a, index=feats).rank(ascending=False, method="min")
    rank_b = pd.Series(b, index=feats).rank(ascending=False, method="min")
    moved = (rank_b - rank_a).abs().sort_values(ascending=False, kind="stable")
    rho = float(spearmanr(a, b).statistic) if len(feats) > 1 and np.ptp(a) > 0 and np.ptp(b) > 0 else None
    return {
        "spearman": rho,
        "rank_shifts": {f: {"shap_rank": int(rank_a[f]), "rank": int(rank_b[f])} for f in moved.index if moved[f] > 0},
    }
