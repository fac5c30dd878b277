"""How every AuditKit chart looks: the Okabe-Ito colour-blind-safe palette and a light Plotly template.

Figures carry the template themselves, so they look the same in the dashboard and in a notebook; the dashboard
draws them without Streamlit's chart theme, which costs the browser tens of milliseconds per chart.
"""
from __future__ import annotations

import plotly.graph_objects as go

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
TEXT, MUTED, GRID = "#1B1F24", "#5A6270", "#E6E9EF"
LEGEND_ABOVE = {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0}  # clear of the x-axis title

_AXIS = {"gridcolor": GRID, "zerolinecolor": GRID, "linecolor": GRID, "ticks": "", "automargin": True,
         "tickfont": {"color": MUTED}, "title": {"font": {"color": MUTED}}}
TEMPLATE = go.layout.Template(layout={
    "font": {"family": '"Source Sans", "Source Sans Pro", sans-serif', "size": 13, "color": TEXT},
    "colorway": list(OKABE_ITO),
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "xaxis": _AXIS,
    "yaxis": _AXIS,
    "hoverlabel": {"bgcolor": "white", "font": {"color": TEXT}},
    "legend": {"font": {"color": MUTED}},
})
