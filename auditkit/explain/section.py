"""The "explanations" section of audit.json: the audit's explanation, computed once per audit context."""
from __future__ import annotations

from typing import Any

from auditkit.explain.tabular import TabularExplanation
from auditkit.explain.text import TextExplanation

BACKGROUND_ROWS = 100


def explanation_key(kind: str, max_rows: int, background_size: int = BACKGROUND_ROWS) -> tuple:
    """The key under which an audit context keeps its explanation (`AuditContext.once`), so the panel shows the
    audit's own explanation instead of computing it again."""
    return ("explanations", kind, max_rows, background_size if kind == "tabular" else None)


def audit_explanation(ctx: Any, *, max_rows: int | None = None) -> TabularExplanation | TextExplanation:
    """Explanations of the audit's model as its family explains it (`ModelFamily.explain`: at most `max_rows` rows,
    default from the settings), kept on the context; an `ExplanationError` says what to do when it cannot be
    explained."""
    return ctx.model.family.explain(ctx, max_rows=max_rows)
