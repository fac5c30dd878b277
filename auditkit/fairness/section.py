"""The `fairness` section of audit.json, built from an audit context."""
from __future__ import annotations

from typing import TYPE_CHECKING

from auditkit.fairness.assessment import assess

if TYPE_CHECKING:
    from auditkit.context import AuditContext


def build_section(ctx: "AuditContext") -> dict:
    """Fairness of the audit's binary predictions per sensitive attribute and their intersections."""
    return assess(
        ctx.y_true,
        ctx.y_pred,
        ctx.sensitive_features,
        ctx.y_score,
        pos_label=ctx.positive_label,
        min_group_size=ctx.settings.min_group_size,
    ).to_dict()
