"""How every AuditKit chart looks: the Okabe-Ito colour-blind-safe palette and a light Plotly template.

Figures carry the template themselves, so they look the same in the dashboard and in a notebook; the dashboard
draws them without Streamlit's chart theme, which costs the browser tens of milliseconds per chart.

Margins are set to the room a figure's labels, legend and slider take. When Plotly finds a margin too small
(`automargin`), it grows it and draws the whole figure again: about twice the drawing time in the browser.
"""
from __future__ import annotations

from collections.abc import Iterable

import plotly.graph_objects as go

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
TEXT, MUTED, GRID = "#1B1F24", "#5A6270", "#E6E9EF"
FONT_SIZE = 13
MARGIN = {"l": 70, "r": 30, "t": 40, "b": 50}  # tick labels and an axis title on either axis
TITLED_TOP = 60  # a chart title above the plot
LEGEND_ROW = 30  # one row of legend above the plot
COLORBAR_RIGHT = 140  # a heat map's colour bar and its title

_AXIS = {"gridcolor": GRID, "zerolinecolor": GRID, "linecolor": GRID, "ticks": "", "automargin": True,
         "tickfont": {"color": MUTED}, "title": {"font": {"color": MUTED}}}
TEMPLATE = go.layout.Template(layout={
    "font": {"family": '"Source Sans", "Source Sans Pro", sans-serif', "size": FONT_SIZE, "color": TEXT},
    "margin": MARGIN,
    "colorway": list(OKABE_ITO),
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "xaxis": _AXIS,
    "yaxis": _AXIS,
    "hoverlabel": {"bgcolor": "white", "font": {"color": TEXT}},
    "legend": {"font": {"color": MUTED}},
})


def legend_above(fig: go.Figure) -> go.Figure:
    """Put the legend in one row above the plot (clear of the x-axis title), with the top margin it needs."""
    top = (fig.layout.margin.t or MARGIN["t"]) + (LEGEND_ROW if fig.layout.title.text else LEGEND_ROW - 20)
    return fig.update_layout(legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}, margin={"t": top})


def label_room(labels: Iterable[object], *, pad: int = 24) -> int:
    """Pixels a column of tick labels takes (about half an em a character), for a horizontal bar chart's left margin."""
    return pad + round(0.5 * FONT_SIZE * max((len(str(label)) for label in labels), default=0))
