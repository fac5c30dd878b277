"""Group metric bars: one bar per group and metric, whiskers at the 95% bootstrap interval. Group and column names
are data, shown as typed (`auditkit.markup.chart_text`: Plotly reads tags and links in chart text)."""
from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

from auditkit.chart_style import OKABE_ITO, TEMPLATE, legend_above
from auditkit.fairness.glossary import TITLES
from auditkit.fairness.report import GroupingReport
from auditkit.markup import chart_text


def group_bars(grouping: GroupingReport, metrics: Sequence[str], *, height: int = 380) -> go.Figure:
    """Grouped bars of `metrics` for every group of `grouping`, with asymmetric 95% interval whiskers."""
    table = grouping.intervals_frame()
    fig = go.Figure()
    for i, metric in enumerate(metrics):
        part = table[table["metric"] == metric]
        fig.add_bar(name=TITLES[metric], x=part["group"].map(chart_text), y=part["value"],
                    marker_color=OKABE_ITO[i % len(OKABE_ITO)],
                    error_y={"type": "data", "symmetric": False, "array": part["ci_high"] - part["value"],
                             "arrayminus": part["value"] - part["ci_low"]})
    fig.update_layout(template=TEMPLATE, barmode="group", yaxis_title="rate", xaxis_title=chart_text(grouping.name),
                      height=height)
    return legend_above(fig)
