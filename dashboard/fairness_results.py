"""The Fairness page's results, computed once per audit and shared read-only by every session.

They live in a module of their own: a page script runs again on every visit, and Streamlit's cache decorators
read their function's source each time they run (about 2 ms each); an imported module runs them once.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from auditkit.context import AuditContext
from auditkit.fairness import FairnessReport, GroupingReport, MulticlassReport
from auditkit.fairness.counterfactual import CounterfactualReport, counterfactual_test, runner_score_fn
from auditkit.fairness.errors_analysis import ErrorAnalysis, error_cohorts, error_heatmap
from auditkit.fairness.group_chart import group_bars
from auditkit.fairness.mitigation import MitigationResult, mitigate
from auditkit.fairness.section import fairness_report
from auditkit.fairness.threshold_chart import threshold_explorer
from auditkit.fairness.thresholds import ThresholdSweep, threshold_sweep
from auditkit.hashing import params_hash


def context_key(ctx: AuditContext) -> str:
    """What the Fairness results depend on: data, model, columns, positive label and minimum group size."""
    return params_hash({
        "data": ctx.data_sha256,
        "model": ctx.model.sha256 if ctx.model else None,
        "prediction_column": ctx.spec.prediction_column,
        "score_column": ctx.spec.score_column,
        "sensitive": list(ctx.spec.sensitive),
        "positive": ctx.positive_label,
        "min_group_size": ctx.settings.min_group_size,
    })


def compared(ctx: AuditContext) -> pd.DataFrame:
    """The sensitive columns to compare: in a cohort, those with two or more groups among its rows."""
    frame = ctx.sensitive_features
    return frame[[c for c in frame if frame[c].nunique() > 1]] if ctx.cohort else frame


@st.cache_resource(max_entries=8, show_spinner="Computing group metrics ...")
def cached_report(key: str, _ctx: AuditContext) -> FairnessReport | MulticlassReport:
    """Group metrics, disparities and intervals (one-vs-rest per class for a multiclass model)."""
    return fairness_report(_ctx, compared(_ctx))


@st.cache_resource(max_entries=8, show_spinner="Sweeping decision thresholds ...")
def cached_sweep(key: str, _ctx: AuditContext) -> ThresholdSweep:
    return threshold_sweep(_ctx.y_true, _ctx.y_score, compared(_ctx), pos_label=_ctx.positive_label)


@st.cache_resource(max_entries=64, show_spinner=False)
def cached_bars(report_key: str, grouping_name: str, metrics: tuple[str, ...], _grouping: GroupingReport) -> go.Figure:
    return group_bars(_grouping, metrics)


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_explorer(key: str, grouping_name: str, _ctx: AuditContext) -> go.Figure:
    return threshold_explorer(cached_sweep(key, _ctx), grouping_name)


@st.cache_resource(max_entries=16, show_spinner="Mitigating ...")
def cached_mitigation(key: str, method: str, constraint: str, _ctx: AuditContext) -> MitigationResult:
    return mitigate(_ctx, method, constraint=constraint, sensitive_features=compared(_ctx))


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_heatmap(key: str, first: str, second: str, _ctx: AuditContext):
    return error_heatmap(_ctx.frame, first, second, _ctx.y_true, _ctx.y_pred)


@st.cache_resource(max_entries=8, show_spinner="Searching for the cohorts with most errors ...")
def cached_errors(key: str, _ctx: AuditContext) -> ErrorAnalysis:
    columns = list(dict.fromkeys([*_ctx.spec.features, *_ctx.spec.sensitive]))
    return error_cohorts(_ctx.frame[columns], _ctx.y_true, _ctx.y_pred, min_cohort_size=_ctx.settings.min_group_size)


@st.cache_resource(max_entries=4, show_spinner="Swapping identity terms and re-scoring ...")
def cached_counterfactual(key: str, _ctx: AuditContext) -> CounterfactualReport:
    names = list(_ctx.model.class_names or ()) if _ctx.model else []
    positive = names.index(_ctx.positive_label) if _ctx.positive_label in names else _ctx.model.n_outputs - 1
    return counterfactual_test(_ctx.texts(), runner_score_fn(_ctx.model), positive_index=positive)
