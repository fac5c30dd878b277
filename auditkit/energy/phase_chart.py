"""The run's energy by phase: stacked bars of kWh (net of idle), one colour per measured component."""
from __future__ import annotations

import plotly.graph_objects as go

from auditkit.chart_style import OKABE_ITO, TEMPLATE, legend_above
from auditkit.energy.section import EnergyResult, phases_frame

COMPONENT_COLOURS = {"cpu": OKABE_ITO[0], "gpu": OKABE_ITO[1], "ram": OKABE_ITO[2], "total": OKABE_ITO[3]}


def phase_bars(result: EnergyResult, *, height: int = 340) -> go.Figure:
    """kWh of each phase of an audit's energy result, stacked by component (cpu, gpu, ram, or their total)."""
    table = phases_frame(result)
    fig = go.Figure()
    for component, part in table.groupby("component", sort=False):
        fig.add_bar(x=part["phase"], y=part["kwh"], name=component,
                    marker_color=COMPONENT_COLOURS.get(component, OKABE_ITO[7]))
    fig.update_layout(template=TEMPLATE, barmode="stack", yaxis_title="kWh (net of idle)", xaxis_title="phase",
                      height=height, legend_title="component")
    return legend_above(fig)
