"""The "explanations" section of audit.json: the audit's explanation, computed once per audit context."""
from __future__ import annotations

from typing import Any

from auditkit.explain.tabular import TabularExplanation, explain_tabular_audit
from auditkit.explain.text import TextExplanation, explain_text_audit

BACKGROUND_ROWS = 100


def explanation_key(kind: str, max_rows: int, background_size: int = BACKGROUND_ROWS) -> tuple:
    """The key under which an audit context keeps its explanation (`AuditContext.once`), so the panel shows the
    audit's own explanation instead of computing it again."""
    return ("explanations", kind, max_rows, background_size if kind == "tabular" else None)


def audit_explanation(ctx: Any, *, max_rows: int | None = None) -> TabularExplanation | TextExplanation:
    """Explanations of the audit's model (an `ExplanationError` saying what to do when it cannot be explained).

    Tabular: DeepSHAP in logit units over at most `settings.explain_rows` seeded rows (`max_rows`) against a
    100-row seeded background (`BACKGROUND_ROWS`), with permutation-importance and LRP cross-checks. Text: Partition
    SHAP over at most `settings.explain_text_rows` seeded texts (`max_rows`; a few seconds per text for MiniLM on 2
    CPU cores).
    """
    if ctx.model.kind == "text":
        rows = max_rows or ctx.settings.explain_text_rows
        return ctx.once(explanation_key("text", rows), lambda: explain_text_audit(ctx, max_rows=rows))
    rows = max_rows or ctx.settings.explain_rows
    return ctx.once(explanation_key("tabular", rows), lambda: explain_tabular_audit(
        ctx, max_rows=rows, background_size=BACKGROUND_ROWS))
