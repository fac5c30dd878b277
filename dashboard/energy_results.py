"""The Energy page's cached results, shared by every session.

They live in a module of their own: a page script runs again on every visit, and Streamlit's cache decorators
read their function's source each time they run (about 2 ms each); an imported module runs them once.
"""
from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from auditkit.context import AuditContext
from auditkit.energy.phase_chart import phase_bars
from auditkit.energy.section import EnergyResult
from auditkit.energy.variants import compare_variants


@st.cache_data(max_entries=8, show_spinner="Running the model variants ...")
def cached_variants(data_sha: str, model_sha: str, region: str, _ctx: AuditContext) -> dict:
    return compare_variants(_ctx, region=region).to_dict()


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_phase_bars(key: str, _result: EnergyResult) -> go.Figure:
    return phase_bars(_result)
