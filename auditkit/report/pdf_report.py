"""PDF export with fpdf2 (pure Python): the same content as the HTML report, in the same order."""
from __future__ import annotations

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from auditkit.report.content import Bars, ReportContent, Section, Table, fmt
from auditkit.report.model_card import CARD_FIELDS

_STATUS_RGB = {"pass": (0, 158, 115), "fail": (213, 94, 0), "not_measured": (122, 122, 122)}
_BAR_RGB = (0, 114, 178)
_REF_RGB = (230, 159, 0)
_REPLACE = {"≤": "<=", "≥": ">=", "—": "-", "–": "-", "…": "...", "’": "'", "‘": "'", "“": '"', "”": '"',
            "ε": "epsilon", "δ": "delta", "₂": "2", "\u00a0": " "}


def _latin1(text: object) -> str:
    """The built-in PDF fonts cover Latin-1; other characters become '?' rather than failing the export."""
    text = str(text)  # a builder may pass a raw value from a malformed audit
    for a, b in _REPLACE.items():
        text = text.replace(a, b)
    return text.encode("latin-1", "replace").decode("latin-1")


class _Pdf(FPDF):
    def __init__(self, title: str):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report_title = title
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(title)
        self.set_creator("AuditKit")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.set_text_color(110, 110, 110)
        self.cell(0, 6, _latin1(f"{self.report_title} - page {self.page_no()}"), align="C")
        self.set_text_color(0, 0, 0)


def render_pdf(content: ReportContent) -> bytes:
    """The report as PDF bytes."""
    pdf = _Pdf(_latin1(content.title))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 8, _latin1(content.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=8)
    pdf.multi_cell(0, 5, _latin1(f"Generated {content.generated} by AuditKit - policy {content.scorecard.policy}"),
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    _heading(pdf, "Scorecard")
    _scorecard(pdf, content)
    _heading(pdf, "Summary")
    for sentence in content.summary:
        _para(pdf, sentence)
    for section in content.sections:
        _section(pdf, section)
    _heading(pdf, "Model card")
    for key, heading in CARD_FIELDS.items():
        pdf.set_font("Helvetica", "B", 9)
        pdf.multi_cell(0, 5, _latin1(heading), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        _para(pdf, content.model_card.get(key, ""))
    _section(pdf, content.evidence)
    if content.signoffs:
        _heading(pdf, "Sign-off")
        _table(pdf, Table(("when (UTC)", "reviewer", "decision", "comment"), tuple(
            (str(s.get("created", "")), str(s.get("reviewer", "")), str(s.get("decision", "")),
             str(s.get("comment", ""))) for s in content.signoffs)))
    if content.trail:
        _heading(pdf, "Audit trail")
        _table(pdf, Table(("#", "when (UTC)", "event", "by", "entry hash"), tuple(
            (str(e.get("seq", "")), str(e.get("created", "")), str(e.get("kind", "")), str(e.get("actor", "")),
             str(e.get("hash", ""))[:16] + "...") for e in content.trail)))
    return bytes(pdf.output())


def _heading(pdf: FPDF, text: str) -> None:
    pdf.ln(3)
    pdf.set_font("Helvetica", "B", 13)
    pdf.multi_cell(0, 7, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=9)


def _para(pdf: FPDF, text: str) -> None:
    pdf.set_font("Helvetica", size=9)
    pdf.multi_cell(0, 4.6, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(1)


def _scorecard(pdf: FPDF, content: ReportContent) -> None:
    pdf.set_font("Helvetica", size=8)
    with pdf.table(col_widths=(60, 22, 22, 86), text_align="LEFT", line_height=4.4) as table:
        head = table.row()
        for c in ("check", "result", "measured", "detail"):
            head.cell(c)
        for r in content.scorecard.results:
            row = table.row()
            row.cell(_latin1(r.name))
            pdf.set_text_color(*_STATUS_RGB[r.status])
            row.cell(r.status.replace("_", " ").upper())
            pdf.set_text_color(0, 0, 0)
            row.cell(_latin1(fmt(r.value)))
            row.cell(_latin1(r.message))
    pdf.ln(2)


def _section(pdf: FPDF, section: Section) -> None:
    _heading(pdf, section.title)
    for p in section.paragraphs:
        _para(pdf, p)
    for chart in section.charts:
        _bars(pdf, chart)
    for t in section.tables:
        _table(pdf, t)


def _table(pdf: FPDF, t: Table) -> None:
    if not t.rows:
        return
    if t.caption:
        pdf.set_font("Helvetica", "B", 8)
        pdf.multi_cell(0, 5, _latin1(t.caption), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=7 if len(t.columns) > 4 else 8)
    with pdf.table(text_align="LEFT", line_height=4) as table:
        head = table.row()
        for c in t.columns:
            head.cell(_latin1(c))
        for r in t.rows:
            row = table.row()
            for v in r:
                row.cell(_latin1(v))
    pdf.ln(2)


def _bars(pdf: FPDF, chart: Bars) -> None:
    label_w, plot_w, bar_h = 50.0, 110.0, 4.5
    need = 8 + len(chart.values) * (bar_h + 1.5)
    if pdf.get_y() + need > pdf.h - 20:
        pdf.add_page()
    pdf.set_font("Helvetica", "B", 8)
    pdf.multi_cell(0, 5, _latin1(chart.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    values = [max(0.0, v) for v in chart.values]
    vmax = max(values + ([chart.reference] if chart.reference else []) + [1e-12])
    x0, y = pdf.l_margin + label_w, pdf.get_y()
    y_start = y
    pdf.set_font("Helvetica", size=7)
    for label, v in zip(chart.labels, values):
        pdf.set_xy(pdf.l_margin, y)
        pdf.cell(label_w - 2, bar_h, _latin1(label[:30]), align="R")
        pdf.set_fill_color(*_BAR_RGB)
        pdf.rect(x0, y, plot_w * v / vmax, bar_h, style="F")
        pdf.set_xy(x0 + plot_w * v / vmax + 1, y)
        pdf.cell(20, bar_h, _latin1(fmt(v, 3)))
        y += bar_h + 1.5
    if chart.reference:
        x = x0 + plot_w * chart.reference / vmax
        pdf.set_draw_color(*_REF_RGB)
        pdf.set_dash_pattern(dash=1.5, gap=1)
        pdf.line(x, y_start, x, y)
        pdf.set_dash_pattern()
        pdf.set_draw_color(0, 0, 0)
        pdf.set_xy(x - 20, y)
        pdf.cell(40, 4, _latin1(f"{chart.reference_label} ({fmt(chart.reference, 3)})"), align="C")
        y += 4
    pdf.set_xy(pdf.l_margin, y + 2)
