"""Explanations: SHAP for tabular and text models, cross-checks (permutation importance, LRP),
attention maps and Integrated Gradients.

Tabular methods are registered by name (`available_methods()`); `explain_tabular` is the one call.
"""
from auditkit.explain.base import (
    Attribution,
    Background,
    ExplanationError,
    TokenAttribution,
    summarize_background,
)
from auditkit.explain.methods import available_methods, explain_tabular
from auditkit.explain.importance import by_group_importance, global_importance, group_difference

__all__ = [
    "Attribution",
    "Background",
    "ExplanationError",
    "TokenAttribution",
    "available_methods",
    "by_group_importance",
    "explain_tabular",
    "global_importance",
    "group_difference",
    "summarize_background",
]
