"""The `fairness` section of audit.json, built from an audit context."""
from __future__ import annotations

from typing import TYPE_CHECKING

from auditkit.fairness.assessment import assess
from auditkit.fairness.multiclass import assess_multiclass

if TYPE_CHECKING:
    from auditkit.context import AuditContext


def build_section(ctx: "AuditContext") -> dict:
    """Fairness of the audit's predictions per sensitive attribute and their intersections.

    Binary labels: `FairnessReport.to_dict()`. More than two classes: the macro one-vs-rest view with every class's
    binary section under `one_vs_rest` (`MulticlassReport.to_dict()`).
    """
    if len(set(ctx.classes)) > 2:
        return assess_multiclass(ctx.y_true, ctx.y_pred, ctx.sensitive_features,
                                 min_group_size=ctx.settings.min_group_size).to_dict()
    return assess(
        ctx.y_true,
        ctx.y_pred,
        ctx.sensitive_features,
        ctx.y_score,
        pos_label=ctx.positive_label,
        min_group_size=ctx.settings.min_group_size,
    ).to_dict()
