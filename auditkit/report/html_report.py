"""Single-file HTML report: inline CSS and inline SVG charts, no scripts, no external resources.

Every string that comes from the audit (column names, group values, file names, comments) is escaped
(`auditkit.markup.html_text`).
"""
from __future__ import annotations

from auditkit.markup import html_text
from auditkit.report.content import Bars, ReportContent, Section, Table, fmt
from auditkit.report.model_card import CARD_FIELDS

# Okabe-Ito colour-blind-safe palette; status is also written out in words.
STATUS_COLOURS = {"pass": "#009E73", "fail": "#D55E00", "not_measured": "#7a7a7a"}
BAR_COLOUR = "#0072B2"
REF_COLOUR = "#E69F00"

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:1000px;margin:2rem auto;padding:0 1rem;color:#1d1d1f;line-height:1.45}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{border-bottom:2px solid #e4e4e7;padding-bottom:.2rem;margin-top:2.2rem}
h3{font-size:1.05rem;margin-top:1.4rem}.muted{color:#60606a;font-size:.9rem}
table{border-collapse:collapse;margin:.6rem 0 1rem;font-size:.9rem}th,td{border:1px solid #d4d4d8;padding:.25rem .55rem;text-align:left;vertical-align:top}
th{background:#f4f4f5}td.num{text-align:right;font-variant-numeric:tabular-nums}caption{text-align:left;font-weight:600;padding:.2rem 0}
.status{font-weight:700;padding:.05rem .45rem;border-radius:.3rem;color:#fff;white-space:nowrap}
.summary{background:#f8fafc;border-left:4px solid #0072B2;padding:.6rem 1rem}
.verdict-pass{border-left-color:#009E73}.verdict-fail{border-left-color:#D55E00}
code{font-size:.85rem;word-break:break-all}figure{margin:.5rem 0 1rem}figcaption{font-weight:600;font-size:.9rem}
dl.card dt{font-weight:600;margin-top:.6rem}dl.card dd{margin-left:0;white-space:pre-wrap}
@media print{body{margin:0}h2{page-break-after:avoid}}
"""


def render_html(content: ReportContent) -> str:
    """The report as one self-contained HTML document."""
    card = content.scorecard
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{html_text(content.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html_text(content.title)}</h1>",
        f'<p class="muted">Generated {html_text(content.generated)} by AuditKit · policy {html_text(card.policy)}</p>',
        '<h2 id="scorecard">Scorecard</h2>',
        _scorecard(content),
        f'<div class="summary verdict-{"pass" if card.passed else "fail"}"><h3>Summary</h3>',
        "".join(f"<p>{html_text(s)}</p>" for s in content.summary),
        "</div>",
    ]
    for section in content.sections:
        parts.append(_section(section))
    parts.append('<h2 id="model-card">Model card</h2><dl class="card">')
    for key, heading in CARD_FIELDS.items():
        parts.append(f"<dt>{html_text(heading)}</dt><dd>{html_text(content.model_card.get(key, ''))}</dd>")
    parts.append("</dl>")
    parts.append(_section(content.evidence))
    if content.signoffs:
        parts.append('<h2 id="signoff">Sign-off</h2>')
        parts.append(_table(Table(("when (UTC)", "reviewer", "decision", "comment"), tuple(
            (str(s.get("created", "")), str(s.get("reviewer", "")), str(s.get("decision", "")), str(s.get("comment", "")))
            for s in content.signoffs))))
    if content.trail:
        parts.append('<h2 id="trail">Audit trail</h2>')
        parts.append(_table(Table(("#", "when (UTC)", "event", "by", "entry hash"), tuple(
            (str(e.get("seq", "")), str(e.get("created", "")), str(e.get("kind", "")), str(e.get("actor", "")),
             str(e.get("hash", ""))) for e in content.trail))))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _scorecard(content: ReportContent) -> str:
    rows = []
    for r in content.scorecard.results:
        colour = STATUS_COLOURS[r.status]
        bound = " and ".join(x for x in (f"≥ {r.min:g}" if r.min is not None else "",
                                         f"≤ {r.max:g}" if r.max is not None else "") if x)
        rows.append(
            f'<tr><td>{html_text(r.name)}</td><td><span class="status" style="background:{colour}">'
            f'{html_text(r.status.replace("_", " ").upper())}</span></td><td class="num">{html_text(fmt(r.value))}</td>'
            f"<td>{html_text(bound)}</td><td>{html_text(r.message)}</td></tr>")
    return ("<table><thead><tr><th>check</th><th>result</th><th>measured</th><th>allowed</th><th>detail</th></tr>"
            "</thead><tbody>" + "".join(rows) + "</tbody></table>")


def _section(section: Section) -> str:
    out = [f'<h2 id="{html_text(section.key)}">{html_text(section.title)}</h2>']
    out += [f"<p>{html_text(p)}</p>" for p in section.paragraphs]
    out += [svg_bars(c) for c in section.charts]
    out += [_table(t) for t in section.tables]
    if len(out) == 1:
        out.append('<p class="muted">Nothing was recorded for this panel.</p>')
    return "\n".join(out)


def _table(t: Table) -> str:
    head = "".join(f"<th>{html_text(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in t.rows)
    caption = f"<caption>{html_text(t.caption)}</caption>" if t.caption else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: object) -> str:
    value = str(value)  # a builder may pass a raw value from a malformed audit
    numeric = value.replace(",", "").replace(".", "", 1).replace("-", "", 1).replace("e", "", 1).isdigit()
    return f'<td class="num">{html_text(value)}</td>' if numeric else f"<td>{html_text(value)}</td>"


def svg_bars(chart: Bars, *, width: int = 640) -> str:
    """A horizontal bar chart as inline SVG, with a text table behind it in the report."""
    label_w, bar_h, gap, top = 190, 20, 6, 8
    plot_w = width - label_w - 70
    values = [max(0.0, v) for v in chart.values]
    vmax = max(values + ([chart.reference] if chart.reference else []) + [1e-12])
    height = top + len(values) * (bar_h + gap) + 24
    items = []
    for i, (label, v) in enumerate(zip(chart.labels, values)):
        y = top + i * (bar_h + gap)
        w = plot_w * v / vmax
        short = label if len(label) <= 28 else label[:27] + "…"
        items.append(
            f'<text x="{label_w - 6}" y="{y + bar_h * 0.7:.1f}" text-anchor="end" font-size="12">'
            f"<title>{html_text(label)}</title>{html_text(short)}</text>"
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{BAR_COLOUR}"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h * 0.7:.1f}" font-size="11">{html_text(fmt(v, 3))}</text>')
    if chart.reference:
        x = label_w + plot_w * chart.reference / vmax
        items.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{height - 20}" stroke="{REF_COLOUR}" '
                     f'stroke-width="2" stroke-dasharray="5 3"/>'
                     f'<text x="{x:.1f}" y="{height - 6}" font-size="11" text-anchor="middle">'
                     f"{html_text(chart.reference_label)} ({html_text(fmt(chart.reference, 3))})</text>")
    return (f'<figure><figcaption>{html_text(chart.title)}</figcaption>'
            f'<svg role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}"><title>{html_text(chart.title)}</title>{"".join(items)}</svg></figure>')
