"""Margins sized to what a figure puts around its plot, so Plotly draws it once."""
from __future__ import annotations

import plotly.graph_objects as go

from auditkit.chart_style import FONT_SIZE, LEGEND_ROW, MARGIN, TEMPLATE, TITLED_TOP, label_room, legend_above


def test_template_margin_holds_tick_labels_and_axis_titles():
    assert TEMPLATE.layout.margin.to_plotly_json() == MARGIN
    assert MARGIN["b"] >= 44  # tick labels plus an axis title measured 44 px in Chromium


def test_legend_above_adds_one_row_to_the_top_margin():
    plain = legend_above(go.Figure())
    assert plain.layout.margin.t == MARGIN["t"] + LEGEND_ROW - 20
    assert (plain.layout.legend.orientation, plain.layout.legend.yanchor) == ("h", "bottom")
    titled = legend_above(go.Figure(layout={"title": "t", "margin": {"t": TITLED_TOP}}))
    assert titled.layout.margin.t == TITLED_TOP + LEGEND_ROW


def test_label_room_grows_with_the_longest_label():
    assert label_room([]) == 24
    assert label_room(["ab", "abcd"]) == 24 + round(0.5 * FONT_SIZE * 4)
