"""Reports: single-file HTML, PDF, JSON and model cards (report fields and a Hugging Face README.md)."""
from __future__ import annotations

from typing import Any, Literal

from auditkit import strict_json
from auditkit.policy import Policy
from auditkit.report.compare import Comparison, compare_audits
from auditkit.report.content import ReportContent, build_content, summary_sentences
from auditkit.report.errors import ReportError
from auditkit.report.html_report import render_html
from auditkit.report.model_card import CARD_FIELDS, huggingface_model_card, model_card_fields, read_card_file
from auditkit.report.pdf_report import render_pdf

Format = Literal["html", "pdf", "json", "modelcard"]
FORMATS: tuple[str, ...] = ("html", "pdf", "json", "modelcard")
MEDIA_TYPES = {"html": "text/html", "pdf": "application/pdf", "json": "application/json", "modelcard": "text/markdown"}
EXTENSIONS = {"html": ".html", "pdf": ".pdf", "json": ".json", "modelcard": ".md"}


def render_report(audit: dict[str, Any], fmt: Format, *, policy: Policy | None = None, title: str = "",
                  card_overrides: dict[str, str] | None = None, signoffs: tuple[dict[str, Any], ...] = (),
                  trail: tuple[dict[str, Any], ...] = ()) -> bytes:
    """The report of `audit` in one format, as bytes ready to write or download.

    `policy` defaults to the shipped policy; `card_overrides` edits model-card fields (keys of `CARD_FIELDS`);
    `signoffs` and `trail` are `to_dict()`s of the store's sign-offs and events for this audit.
    """
    if fmt not in FORMATS:
        raise ReportError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    content = build_content(audit, policy=policy, title=title, card_overrides=card_overrides,
                            signoffs=signoffs, trail=trail)
    if fmt == "html":
        return render_html(content).encode("utf-8")
    if fmt == "pdf":
        return render_pdf(content)
    if fmt == "modelcard":
        return huggingface_model_card(audit, scorecard=content.scorecard, overrides=card_overrides).encode("utf-8")
    doc = {"report_format": 1, "title": content.title, "generated": content.generated, "audit": audit,
           "scorecard": content.scorecard.to_dict(), "summary": list(content.summary),
           "model_card": content.model_card, "signoffs": list(signoffs), "trail": list(trail)}
    return strict_json.dumps(doc, indent=2, ensure_ascii=False, default=str).encode("utf-8")


__all__ = ["CARD_FIELDS", "EXTENSIONS", "FORMATS", "MEDIA_TYPES", "Comparison", "ReportContent", "ReportError",
           "build_content", "compare_audits", "huggingface_model_card", "model_card_fields", "read_card_file",
           "render_html", "render_pdf", "render_report", "summary_sentences"]
