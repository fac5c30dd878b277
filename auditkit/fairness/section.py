"""The `fairness` section of audit.json, built from an audit context."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from auditkit.fairness.assessment import assess
from auditkit.fairness.multiclass import MulticlassReport, assess_multiclass
from auditkit.fairness.report import FairnessReport

if TYPE_CHECKING:
    import pandas as pd

    from auditkit.context import AuditContext


def _key(ctx: "AuditContext", columns: Any) -> tuple:
    return ("fairness", "multiclass" if len(set(ctx.classes)) > 2 else "binary", tuple(columns))


def fairness_report(ctx: "AuditContext", sensitive: "pd.DataFrame | None" = None) -> FairnessReport | MulticlassReport:
    """The context's fairness report (binary) or one-vs-rest report (multiclass), computed once per context and
    set of compared columns (`sensitive`, default every sensitive column)."""
    frame = ctx.sensitive_features if sensitive is None else sensitive
    if len(set(ctx.classes)) > 2:
        return ctx.once(_key(ctx, frame.columns), lambda: assess_multiclass(
            ctx.y_true, ctx.y_pred, frame, min_group_size=ctx.settings.min_group_size))
    return ctx.once(_key(ctx, frame.columns), lambda: assess(
        ctx.y_true, ctx.y_pred, frame, ctx.y_score, pos_label=ctx.positive_label,
        min_group_size=ctx.settings.min_group_size))


def keep_fairness_report(ctx: "AuditContext", report: FairnessReport) -> None:
    """Make `report` (e.g. computed over every row of a chunked audit) the one `fairness_report(ctx)` returns."""
    ctx.once(_key(ctx, ctx.spec.sensitive), lambda: report)


def build_section(ctx: "AuditContext") -> dict:
    """Fairness of the audit's predictions per sensitive attribute and their intersections.

    Binary labels: `FairnessReport.to_dict()`. More than two classes: the macro one-vs-rest view with every class's
    binary section under `one_vs_rest` (`MulticlassReport.to_dict()`).
    """
    return fairness_report(ctx).to_dict()
