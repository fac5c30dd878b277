"""The "explanations" section of audit.json."""
from __future__ import annotations

from typing import Any

from auditkit.explain.tabular import explain_tabular_audit
from auditkit.explain.text import explain_text_audit


def build_section(ctx: Any) -> dict[str, Any]:
    """Explanations of the audit's model, or {"method": None, "reason": ...} when there is no model.

    Tabular: DeepSHAP in logit units over at most 1,000 seeded rows against a 100-row seeded background, with
    permutation-importance and LRP cross-checks. Text: Partition SHAP over at most 50 seeded texts.
    """
    if ctx.model is None:
        return {"method": None, "reason": "no model was loaded; explanations need a model"}
    if ctx.model.kind == "text":
        return explain_text_audit(ctx).to_dict()
    return explain_tabular_audit(ctx).to_dict()
