"""Explanations: why the model decides as it does, and whether a sensitive attribute or a proxy drives it."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from auditkit.chart_style import COLORBAR_RIGHT, OKABE_ITO, TITLED_TOP, label_room, legend_above
from auditkit.context import AuditContext
from auditkit.errors import AuditkitError
from auditkit.explain.attention import AttentionMaps
from auditkit.explain.base import Attribution, check_row
from auditkit.explain.cross_checks import CROSS_CHECKS, RANK_TOLERANCE, rank_table
from auditkit.explain.section import BACKGROUND_ROWS, explanation_key
from auditkit.explain.tabular import TabularExplanation, explain_tabular_audit
from auditkit.explain.text import TextExplanation, explain_text_audit
from auditkit.jobs import BackgroundJob
from auditkit.markup import chart_text, plain
from dashboard.access import enforce_entry
from dashboard.explain_results import cached_run, keep_run, row_explanation, text_attention, text_ig, text_row
from dashboard.shared import (current_context, ended_job, selected_tab, session_jobs, show_chart, show_empty_state,
                              show_error)

enforce_entry()  # sign-in first, when configured

BLUE, ORANGE = OKABE_ITO[0], OKABE_ITO[1]  # positive and negative contributions
HELP = {
    "method": "How the attributions were computed. 'deep' is DeepSHAP: exact for linear models and additive "
              "for networks of layers and activations; 'partition' is shap's hierarchical method for text.",
    "output": "The unit of every attribution. Logit: log-odds of the positive class (0 = a 50/50 decision).",
    "additivity": "Largest gap, over the rows explained, between (sum of attributions + base value) and the "
                  "model's own output. Near zero means the attributions account for the whole decision.",
    "rows": "How many rows (a fixed random sample) were explained; raise the limit for more, at a cost in time.",
    "base": "The model's average output over the background rows: where every explanation starts from.",
    "spearman": "Rank agreement with SHAP's global importance: 1 = same order, 0 = unrelated, -1 = reversed.",
    "delta": "Integrated Gradients' own error check: how far its attributions are from adding up exactly.",
    "stop": "Stop after the current chunk and show what has been explained so far.",
}
CHECK_TITLES = {"permutation": "Permutation importance", "lrp": "LRP"}
PAGE = "explain"  # this page's background runs live in session state `explain_jobs` (`session_jobs`)
WAIT_S = 20.0  # seconds a run is watched in the page run before a polling fragment takes over


def run_explanation(key: tuple, label: str, unit: str, fn: Callable[..., Any], ctx: AuditContext,
                    **options: Any) -> Any:
    """The explanation for `key`: from the shared cache, else from this session's background run of
    `fn(ctx, **options)` (started here; None while it runs, with its progress and a Stop button shown).
    A run stopped early is returned but never cached as complete. The audit's own explanation is reused."""
    done = cached_run(key) or ctx.recall(explanation_key(key[0], options["max_rows"], options.get("background_size",
                                                                                              BACKGROUND_ROWS)))
    if done is not None:
        return done
    jobs = session_jobs(PAGE)
    if key not in jobs:
        for other in jobs.values():  # settings changed: the old run is no longer wanted
            other.cancel()
        jobs.clear()
        jobs[key] = BackgroundJob(label, fn, ctx, **options)
    job = ended_job(PAGE, key, unit=unit, stop_help=HELP["stop"], wait_s=WAIT_S)
    if job is None:
        return None
    if job.result is None:  # stopped before it started
        jobs.pop(key)
        st.info(f"Stopped before any {unit} were explained.")
        st.button("Explain again", key="explain_restart")
        return None
    if not job.result.stopped_early:
        keep_run(key, job.result)
        jobs.pop(key)
    return job.result


def stopped_note(result: TabularExplanation | TextExplanation, unit: str, key: tuple) -> None:
    """Say plainly that a run was cut short, and offer to explain every sampled row."""
    st.warning(f"Explained {len(result.rows):,} of {result.rows_requested:,} {unit}: stopped by you. "
               f"Every number below covers only those {len(result.rows):,} {unit} (a random part of the sample).")
    if st.button(f"Explain all {result.rows_requested:,} {unit}", key="explain_all"):
        session_jobs(PAGE).pop(key, None)
        st.rerun()


def bar(labels: list[str], values: list[float], *, title: str, x_title: str, signed: bool = False) -> go.Figure:
    colours = [BLUE if v >= 0 else ORANGE for v in values] if signed else BLUE
    fig = go.Figure(go.Bar(x=values, y=[chart_text(label) for label in labels], orientation="h", marker_color=colours))
    fig.update_layout(title=title, xaxis_title=x_title, yaxis={"autorange": "reversed"}, height=120 + 28 * len(labels),
                      margin={"t": TITLED_TOP, "l": label_room(labels)})
    return fig


def summary_cards(method: str, output: str, additivity: float, rows: int) -> None:
    c = st.columns(4)
    c[0].metric("Method", method, help=HELP["method"])
    c[1].metric("Units", output, help=HELP["output"])
    c[2].metric("Additivity error", f"{additivity:.1e}", help=HELP["additivity"])
    c[3].metric("Rows explained", f"{rows:,}", help=HELP["rows"])


def tabular_panel(ctx: AuditContext) -> None:
    with st.expander("Settings"):
        max_rows = int(st.number_input("Rows to explain (seeded sample)", 1, 100_000, ctx.settings.explain_rows,
                                       step=100, help=HELP["rows"]))
        background_size = int(st.number_input("Background rows", 1, 5000, BACKGROUND_ROWS, step=10,
                                              help=HELP["base"]))
    key = ("tabular", ctx.data_sha256, ctx.model.sha256, max_rows, background_size)
    exp = run_explanation(key, "Explaining the model (SHAP on a sample of rows)", "rows", explain_tabular_audit, ctx,
                          max_rows=max_rows, background_size=background_size)
    if exp is None:
        return
    a = exp.attribution
    summary_cards(a.method, a.output, a.additivity_error, len(exp.rows))
    if exp.stopped_early:
        stopped_note(exp, "rows", key)
    if exp.fallback_reason:
        st.warning(f"DeepSHAP could not run ({plain(exp.fallback_reason)}); permutation SHAP was used instead.")
    label, tab = selected_tab(["Global importance", "Beeswarm", "Dependence", "Waterfall", "By group", "Cross-checks"],
                              key="explain_tab")
    with tab:
        tabular_tab(label, ctx, exp, background_size)


def tabular_tab(label: str, ctx: AuditContext, exp: TabularExplanation, background_size: int) -> None:
    """The content of one tab of the tabular panel."""
    a, names = exp.attribution, list(exp.attribution.feature_names)
    imp = a.global_importance()
    order = list(imp)
    if label == "Global importance":
        show_chart(bar(list(imp), list(imp.values()), title="Mean |SHAP| per feature",
                       x_title=f"mean |SHAP| ({a.output})"), key="global")
        st.dataframe(pd.DataFrame({"feature": list(imp), "mean_abs_shap": list(imp.values())}), hide_index=True)

    elif label == "Beeswarm":
        j = [names.index(f) for f in order]
        xs, ys, colour = a.values[:, j].T.ravel(), np.repeat(order, len(a.values)), a.scaled_data()[:, j].T.ravel()
        jitter = np.random.default_rng(0).uniform(-0.3, 0.3, len(xs))
        fig = go.Figure(go.Scatter(x=xs, y=np.repeat(np.arange(len(order)), len(a.values)) + jitter, mode="markers",
                                   marker={"color": colour, "colorscale": "Cividis", "size": 4,
                                           "colorbar": {"title": {"text": "feature value (low→high)", "side": "right"}}},
                                   text=[chart_text(y) for y in ys],
                                   hovertemplate="%{text}: SHAP %{x:.3f}<extra></extra>"))
        fig.update_layout(title="Each dot is one row: its SHAP value, coloured by the feature's value",
                          xaxis_title=f"SHAP ({a.output})", height=150 + 30 * len(order),
                          margin={"t": TITLED_TOP, "l": label_room(order), "r": COLORBAR_RIGHT},
                          yaxis={"tickvals": list(range(len(order))), "ticktext": [chart_text(f) for f in order],
                                 "autorange": "reversed"})
        show_chart(fig, key="beeswarm")
        st.dataframe(pd.DataFrame(a.values, columns=names).assign(row=exp.rows), hide_index=True)

    elif label == "Dependence":
        feature = st.selectbox("Feature", order, key="dependence_feature")
        k = names.index(feature)
        fig = go.Figure(go.Scatter(x=a.data[:, k], y=a.values[:, k], mode="markers", marker={"color": BLUE, "size": 5}))
        fig.update_layout(title="How the feature's value moves its contribution", xaxis_title="feature value",
                          yaxis_title=f"SHAP ({a.output})", margin={"t": TITLED_TOP})
        show_chart(fig, key="dependence")
        st.dataframe(pd.DataFrame({"row": exp.rows, "value": a.data[:, k], "shap": a.values[:, k]}), hide_index=True)

    elif label == "Waterfall":
        n = len(ctx.frame)
        row = st.number_input(f"Row (0 to {n - 1})", value=0, step=1, key="waterfall_row")
        try:
            one = row_explanation(ctx.data_sha256, ctx.model.sha256, check_row(int(row), n), background_size, ctx)
        except AuditkitError as e:
            show_error(e)
        else:
            waterfall(one)

    elif label == "By group":
        for attr, groups in exp.by_group.items():
            frame = pd.DataFrame(groups).loc[order]
            fig = go.Figure([go.Bar(name=chart_text(g), y=[chart_text(f) for f in frame.index], x=frame[g],
                                    orientation="h") for g in frame.columns])
            fig.update_layout(title=f"Mean SHAP per group of {chart_text(attr)}", barmode="group",
                              xaxis_title=f"mean SHAP ({a.output})", yaxis={"autorange": "reversed"},
                              height=150 + 30 * len(order),
                              margin={"t": TITLED_TOP, "l": label_room(order)})
            legend_above(fig)
            show_chart(fig, key=f"group_{attr}")
            diff = exp.group_difference[attr]
            st.caption(f"The feature that differs most between groups of {plain(attr)} is "
                       f"**{plain(next(iter(diff)))}**: it pushes their predictions apart the most.")
            st.dataframe(frame.assign(between_group_difference=pd.Series(diff)).reset_index(names="feature"),
                         hide_index=True)

    else:
        cross_check_table(exp)


def waterfall(one: Attribution) -> None:
    vals, names = one.values[0], list(one.feature_names)
    order = np.argsort(-np.abs(vals), kind="stable")
    fig = go.Figure(go.Waterfall(
        orientation="h", y=["base value"] + [chart_text(names[j]) for j in order] + ["model output"],
        x=[one.base_values[0]] + [vals[j] for j in order] + [0],
        measure=["absolute"] + ["relative"] * len(order) + ["total"],
        increasing={"marker": {"color": BLUE}}, decreasing={"marker": {"color": ORANGE}}))
    fig.update_layout(title=f"Row {int(one.rows[0])}: from the base value to the model's output",
                      xaxis_title=f"{one.output}", yaxis={"autorange": "reversed"},
                      margin={"t": TITLED_TOP, "l": label_room(["base value", "model output", *names])})
    show_chart(fig, key="waterfall")
    st.dataframe(pd.DataFrame({"feature": [names[j] for j in order], "value": one.data[0][order],
                               "shap": vals[order]}), hide_index=True)
    st.caption(f"Base value {one.base_values[0]:.4f} + contributions = model output {one.outputs[0]:.4f}.")


def cross_check_table(exp: TabularExplanation) -> None:
    checks = exp.cross_checks
    if not checks:
        st.info("Cross-checks were not run.")
        return
    cols = st.columns(len(CROSS_CHECKS))
    for col, name in zip(cols, CROSS_CHECKS):
        check = checks.get(name, {})
        if "importance" not in check:
            col.info(f"{CHECK_TITLES[name]}: {plain(check.get('skipped', 'not run'))}")
            continue
        rho = check["agreement"]["spearman"]
        col.metric(f"{CHECK_TITLES[name]} vs SHAP", "n/a" if rho is None else f"{rho:.2f}", help=HELP["spearman"])
    st.caption("Permutation importance: drop in accuracy when a feature is shuffled (± std over repeats). "
               f"LRP: mean |relevance|. Rows marked 'disagrees' rank more than {RANK_TOLERANCE} place away from SHAP.")
    st.dataframe(rank_table(exp.attribution.global_importance(), checks), hide_index=True)


def token_markdown(tokens: tuple[str, ...], values: np.ndarray) -> str:
    """Tokens as markdown, blue when they push towards the positive class, orange when away (escaped text only)."""
    scale = float(np.abs(values).max()) or 1.0
    parts = []
    for tok, v in zip(tokens, values):
        text = plain(tok.strip())
        if not text:
            continue
        strength = abs(v) / scale
        colour = "blue" if v >= 0 else "orange"
        if strength > 0.5:
            parts.append(f":{colour}-background[{text}]")
        elif strength > 0.15:
            parts.append(f":{colour}[{text}]")
        else:
            parts.append(text)
    return " ".join(parts)


def text_panel(ctx: AuditContext) -> None:
    with st.expander("Settings"):
        max_rows = int(st.number_input("Texts to explain (seeded sample)", 1, 5000, ctx.settings.explain_text_rows,
                                       step=10, help=HELP["rows"]))
    key = ("text", ctx.data_sha256, ctx.model.sha256, max_rows)
    exp = run_explanation(key, "Explaining texts (token SHAP on a sample)", "texts", explain_text_audit, ctx,
                          max_rows=max_rows)
    if exp is None:
        return
    summary_cards("partition", exp.output, exp.additivity_error, len(exp.rows))
    if exp.stopped_early:
        stopped_note(exp, "texts", key)
    if exp.to_dict()["texts_truncated"]:
        st.warning(f"{sum(exp.truncated)} texts were longer than the model's limit; only their first tokens "
                   "(what the model reads) were explained.")
    label, tab = selected_tab(["Top tokens", "By group", "One text", "Attention", "Integrated Gradients"],
                              key="explain_text_tab")
    with tab:
        text_tab(label, ctx, exp)


def text_tab(label: str, ctx: AuditContext, exp: TextExplanation) -> None:
    """The content of one tab of the text panel."""
    if label == "Top tokens":
        top = pd.DataFrame(exp.top_tokens)
        if top.empty:
            st.info("No token appears often enough to aggregate; explain more texts.")
        else:
            show_chart(bar(top["token"].tolist(), top["mean"].tolist(),
                           title="Tokens with the largest mean contribution",
                           x_title=f"mean SHAP ({exp.output})", signed=True), key="top_tokens")
            st.dataframe(top, hide_index=True)
    elif label == "By group":
        for attr, groups in exp.by_group.items():
            group = st.selectbox(f"Group of {plain(attr)}", list(groups), key=f"text_group_{attr}")
            rows = pd.DataFrame(groups[group])
            if rows.empty:
                st.info("No token appears often enough in this group.")
                continue
            show_chart(bar(rows["token"].tolist(), rows["mean"].tolist(),
                           title=f"Top tokens for {chart_text(attr)} = {chart_text(group)}",
                           x_title=f"mean SHAP ({exp.output})", signed=True), key=f"text_by_{attr}")
            st.dataframe(rows, hide_index=True)
    elif label == "One text":
        if (one := chosen_text(ctx, exp, "text_row", text_row)) is not None:
            attribution, cut = one
            if cut:
                st.warning("This text is longer than the model's limit; the part the model reads is explained.")
            st.markdown(token_markdown(attribution.tokens, attribution.values))
            st.caption("Blue pushes towards the positive class, orange away; strong colours mark the largest effects.")
            st.dataframe(pd.DataFrame({"token": attribution.tokens, "shap": attribution.values}), hide_index=True)
    elif label == "Attention":
        if (maps := chosen_text(ctx, exp, "attention_row", text_attention)) is not None:
            attention_view(maps)
    elif (one := chosen_text(ctx, exp, "ig_row", text_ig)) is not None:
        ig, _ = one
        st.metric("Convergence delta", f"{ig.convergence_delta:.1e}", help=HELP["delta"])
        show_chart(bar(list(ig.tokens), ig.values.tolist(), title="Integrated Gradients per token",
                       x_title=f"attribution ({ig.output})", signed=True), key="ig")
        st.dataframe(pd.DataFrame({"token": ig.tokens, "attribution": ig.values}), hide_index=True)


def chosen_text(ctx: AuditContext, exp: TextExplanation, key: str, compute: Callable[..., Any]) -> Any:
    """`compute(data_sha256, model_sha256, row, ctx)` for the text row the user picks (first explained row at the
    start), or None after showing why the row cannot be used."""
    n = len(ctx.frame)
    row = st.number_input(f"Text row (0 to {n - 1})", value=int(exp.rows[0]), step=1, key=key)
    try:
        return compute(ctx.data_sha256, ctx.model.sha256, check_row(int(row), n), ctx)
    except AuditkitError as e:
        show_error(e)
        return None

def attention_view(maps: AttentionMaps) -> None:
    if maps.truncated:
        st.warning("This text is longer than the model's limit; attention is shown for the part the model reads.")
    n_layers, n_heads = maps.attentions.shape[:2]
    c = st.columns(2)
    layer = int(c[0].number_input(f"Layer (0 to {n_layers - 1})", 0, n_layers - 1, 0, key="att_layer"))
    head = int(c[1].number_input(f"Head (0 to {n_heads - 1})", 0, n_heads - 1, 0, key="att_head"))
    labels = [f"{i}:{t}" for i, t in enumerate(maps.tokens)]
    for key, title, matrix in [("att_map", f"Layer {layer}, head {head}: row token attends to column token",
                                maps.attentions[layer, head]),
                               ("rollout", "Attention rollout across all layers", maps.rollout)]:
        shown = [chart_text(label) for label in labels]
        fig = go.Figure(go.Heatmap(z=matrix, x=shown, y=shown, colorscale="Cividis"))
        fig.update_layout(title=title, yaxis={"autorange": "reversed"},  # tokens below are turned upright
                          margin={"t": TITLED_TOP, "l": label_room(shown), "b": label_room(shown, pad=40),
                                  "r": COLORBAR_RIGHT})
        show_chart(fig, key=key)
        st.dataframe(pd.DataFrame(matrix, index=labels, columns=labels))


st.title("Explanations")
st.caption("Which features or words drive the model's decisions, overall and for each group.")
ctx = current_context()
if ctx is None:
    show_empty_state()
elif ctx.model is None:
    st.info("This audit has no model (predictions only), so there is nothing to explain. "
            "Load a checkpoint on the Setup page to see explanations.")
else:
    try:
        if ctx.model.family.input_role == "text":
            text_panel(ctx)
        else:
            tabular_panel(ctx)
    except AuditkitError as e:
        show_error(e)
