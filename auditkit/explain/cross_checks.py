"""The cross-checks of a tabular explanation beside SHAP: each method's rank of every feature, and the features a
method places far from where SHAP does."""
from __future__ import annotations

from typing import Any

import pandas as pd

CROSS_CHECKS = ("permutation", "lrp")
RANK_TOLERANCE = 1  # a feature ranked more than this many places away from its SHAP rank disagrees


def rank_table(shap_importance: dict[str, float], checks: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per feature in SHAP order: SHAP's rank and mean |SHAP|; for each cross-check that ran, its rank and
    importance (and, for permutation importance, the std over repeats); `disagrees` when a cross-check ranks the
    feature more than `RANK_TOLERANCE` places away from SHAP (ties share the best rank)."""
    table = pd.DataFrame({"feature": list(shap_importance), "shap_rank": range(1, len(shap_importance) + 1),
                          "mean_abs_shap": list(shap_importance.values())})
    ran = [name for name in CROSS_CHECKS if "importance" in checks.get(name, {})]
    for name in ran:
        importance = pd.Series(checks[name]["importance"])
        table[f"{name}_rank"] = importance.rank(ascending=False, method="min").reindex(table["feature"]).to_numpy(int)
        table[name] = importance.reindex(table["feature"]).to_numpy()
        if "std" in checks[name]:
            table[f"{name}_std"] = pd.Series(checks[name]["std"]).reindex(table["feature"]).to_numpy()
    shifts = table[[f"{name}_rank" for name in ran]].sub(table["shap_rank"], axis=0).abs()
    table["disagrees"] = (shifts > RANK_TOLERANCE).any(axis=1)
    return table
