"""The threshold explorer: one Plotly figure whose own slider moves the decision threshold inside the browser.

Each slider step carries the precomputed sweep's numbers at its threshold (group bars, verdicts, the marker on the
disparity curves), so a move redraws the figure client-side: no server round trip, whatever the number of rows.
Works the same in the dashboard and in a notebook (`threshold_explorer(sweep, "sex").show()`).
"""
from __future__ import annotations

import math
from typing import Literal

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from auditkit.chart_style import OKABE_ITO, TEMPLATE
from auditkit.fairness.glossary import TITLES
from auditkit.fairness.policy import DEFAULT_THRESHOLDS, Check, judge
from auditkit.fairness.thresholds import ThresholdSweep
from auditkit.markup import chart_text

BAR_METRICS = ("selection_rate", "recall", "false_positive_rate")
CURVES = ("demographic_parity_difference", "equalized_odds_difference", "equal_opportunity_difference")
PASS_COLOUR, FAIL_COLOUR, UNDEFINED_COLOUR = OKABE_ITO[0], OKABE_ITO[5], "#666666"  # also marked ✓ / ✗


def verdict_text(check: Check) -> tuple[str, str]:
    """The annotation text and colour of one disparity judged against the policy."""
    bound = "≤" if check.kind == "max" else "≥"
    title = f"<b>{TITLES.get(check.metric, check.metric)}</b>"
    if check.passed is None:
        return f"{title}<br>undefined (policy {bound} {check.limit:g})", UNDEFINED_COLOUR
    mark, colour = ("✓ pass", PASS_COLOUR) if check.passed else ("✗ fail", FAIL_COLOUR)
    return f"{title}<br>{check.value:.3f} · {mark} (policy {bound} {check.limit:g})", colour


def _values(array: np.ndarray) -> list[float | None]:
    """Plain JSON numbers for a slider step (NaN as a gap)."""
    return [None if math.isnan(v) else round(float(v), 6) for v in array]


def threshold_explorer(
    sweep: ThresholdSweep,
    name: str,
    *,
    policy: dict[str, tuple[Literal["max", "min"], float]] = DEFAULT_THRESHOLDS,
    start: float = 0.5,
    height: int = 620,
) -> go.Figure:
    """Group rates at the chosen threshold (left), disparities across thresholds (right), the policy verdicts
    above, and a slider over the sweep's thresholds below."""
    grouping = sweep[name]
    thresholds = sweep.thresholds
    first = sweep.index_of(start)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.09)
    groups = [chart_text(g) for g in grouping.groups]  # data, shown as typed: Plotly reads tags in chart text
    for i, metric in enumerate(BAR_METRICS):
        fig.add_bar(name=TITLES[metric], x=groups, y=_values(grouping.metrics[metric][first]),
                    marker_color=OKABE_ITO[i], row=1, col=1)
    for i, metric in enumerate(CURVES):
        fig.add_scatter(x=thresholds.tolist(), y=_values(grouping.disparities[metric]), name=TITLES[metric],
                        line_color=OKABE_ITO[i + 3], row=1, col=2)
    fig.add_vline(x=float(thresholds[first]), line_dash="dash", line_color="#444444", row=1, col=2)

    def verdicts(k: int) -> list[tuple[str, str]]:
        values = {metric: float(grouping.disparities[metric][k]) for metric in policy}
        return [verdict_text(check) for check in judge(values, policy).values()]

    def panel_title(k: int) -> str:
        return f"Groups at threshold {thresholds[k]:.2f}"

    slots = len(policy)
    for j, (text, colour) in enumerate(verdicts(first)):
        fig.add_annotation(text=text, font={"color": colour, "size": 13}, x=(j + 0.5) / slots, y=1.22,
                           xref="paper", yref="paper", xanchor="center", showarrow=False)
    fig.add_annotation(text=panel_title(first), x=0.225, y=1.05, xref="paper", yref="paper", xanchor="center",
                       showarrow=False, font={"size": 14})
    fig.add_annotation(text="Disparities across thresholds", x=0.775, y=1.05, xref="paper", yref="paper",
                       xanchor="center", showarrow=False, font={"size": 14})

    steps = []
    for k, t in enumerate(thresholds):
        layout = {"shapes[0].x0": float(t), "shapes[0].x1": float(t), f"annotations[{slots}].text": panel_title(k)}
        for j, (text, colour) in enumerate(verdicts(k)):
            layout[f"annotations[{j}].text"] = text
            layout[f"annotations[{j}].font.color"] = colour
        bars = {"y": [_values(grouping.metrics[metric][k]) for metric in BAR_METRICS]}
        steps.append({"label": f"{t:.2f}", "method": "update", "args": [bars, layout, list(range(len(BAR_METRICS)))]})
    fig.update_layout(
        template=TEMPLATE, barmode="group", height=height, margin={"t": 110, "b": 225},  # legend, slider and axis titles below
        legend={"orientation": "h", "y": -0.2, "x": 0},
        xaxis={"title": chart_text(grouping.name)}, yaxis={"title": "rate", "range": [0, 1.05]},
        xaxis2={"title": "threshold"}, yaxis2={"title": "disparity"},
        sliders=[{"active": first, "steps": steps, "x": 0, "len": 1, "y": -0.36, "pad": {"t": 30},
                  "currentvalue": {"prefix": "Decision threshold: ", "font": {"size": 14}},
                  "transition": {"duration": 0}}],
    )
    return fig
