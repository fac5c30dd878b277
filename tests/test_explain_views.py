"""What the Explanations panel draws, decided in the engine: the cross-check rank table and the beeswarm scale."""
from __future__ import annotations

import numpy as np

from auditkit.explain.base import Attribution
from auditkit.explain.cross_checks import RANK_TOLERANCE, rank_table

SHAP = {"income": 0.9, "age": 0.5, "zip": 0.2, "noise": 0.0}


def test_rank_table_marks_features_ranked_far_from_shap():
    checks = {"permutation": {"importance": {"income": 0.3, "age": 0.01, "zip": 0.02, "noise": 0.0},
                              "std": {"income": 0.05, "age": 0.0, "zip": 0.01, "noise": 0.0}},
              "lrp": {"importance": {"income": 1.0, "age": 0.1, "zip": 0.4, "noise": 0.4}}}
    table = rank_table(SHAP, checks)
    assert list(table.columns) == ["feature", "shap_rank", "mean_abs_shap", "permutation_rank", "permutation",
                                   "permutation_std", "lrp_rank", "lrp", "disagrees"]
    assert table["feature"].tolist() == ["income", "age", "zip", "noise"]
    assert table["permutation_rank"].tolist() == [1, 3, 2, 4]
    assert table["lrp_rank"].tolist() == [1, 4, 2, 2]  # zip and noise tie for second place
    # age: SHAP 2nd, LRP 4th (2 places); noise: SHAP 4th, LRP 2nd; zip and income move at most one place
    assert RANK_TOLERANCE == 1 and table["disagrees"].tolist() == [False, True, False, True]
    assert table["permutation_std"].tolist() == [0.05, 0.0, 0.01, 0.0]


def test_rank_table_without_cross_checks_or_with_a_skipped_one():
    skipped = rank_table(SHAP, {"permutation": {"importance": dict(reversed(list(SHAP.items())))},
                                "lrp": {"skipped": "not a TabularMLP"}})
    assert "lrp_rank" not in skipped and "permutation_std" not in skipped
    assert skipped["disagrees"].tolist() == [False, False, False, False]  # same order, ranks identical
    none = rank_table(SHAP, {})
    assert list(none.columns) == ["feature", "shap_rank", "mean_abs_shap", "disagrees"] and not none["disagrees"].any()


def _attribution(data: np.ndarray) -> Attribution:
    return Attribution(values=np.zeros_like(data), base_values=np.zeros(len(data)), data=data,
                       feature_names=tuple(f"x{j}" for j in range(data.shape[1])), method="deep", output="logit",
                       outputs=np.zeros(len(data)), additivity_error=0.0)


def test_beeswarm_colours_scale_each_feature_from_its_lowest_to_highest_value():
    data = np.array([[10.0, 5.0, -1.0], [20.0, 5.0, 1.0], [15.0, 5.0, 0.0]])
    np.testing.assert_allclose(_attribution(data).scaled_data(),
                               [[0.0, 0.0, 0.0], [1.0, 0.0, 1.0], [0.5, 0.0, 0.5]], atol=0)
    assert _attribution(np.zeros((0, 2))).scaled_data().shape == (0, 2)
