"""Fairness: does the model treat groups differently, how much, how sure are we, and what would fixing it cost?"""
from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from auditkit.chart_style import COLORBAR_RIGHT, OKABE_ITO, TITLED_TOP, label_room, legend_above
from auditkit.context import AuditContext
from auditkit.errors import AuditkitError
from auditkit.export import XLSX_MEDIA_TYPE, safe_csv, safe_xlsx
from auditkit.fairness import FairnessReport, GroupingReport
from auditkit.fairness import glossary
from auditkit.fairness.errors_analysis import heatmap_cell_rows
from auditkit.fairness.mitigation import CONSTRAINTS, FRONT_DISPARITY, METHOD_TITLES, applicable_methods
from auditkit.fairness.policy import check_sentence
from auditkit.markup import chart_text, plain
from dashboard.access import enforce_entry
from dashboard.fairness_results import (cached_bars, cached_counterfactual, cached_errors, cached_explorer,
                                        cached_heatmap, cached_mitigation, cached_report, cached_sweep, compared,
                                        context_key)
from dashboard.shared import (current_context, opened, selected_tab, set_cohort, show_chart, show_empty_state,
                              show_error, show_verdict)

enforce_entry()  # sign-in first, when configured

BAR_METRICS = ["selection_rate", "accuracy", "precision", "recall", "false_positive_rate", "false_negative_rate",
               "balanced_accuracy"]


def disparity_cards(grouping: GroupingReport) -> None:
    """Pass/fail cards for the thresholded disparities and the four-fifths rule, a sentence each."""
    cols = st.columns(len(grouping.checks) + 1)
    for col, (name, check) in zip(cols, grouping.checks.items()):
        verdict = "not defined" if check.passed is None else ("pass" if check.passed else "fail")
        bound = "≤" if check.kind == "max" else "≥"
        col.metric(glossary.TITLES[name], "n/a" if check.passed is None else f"{check.value:.3f}",
                   delta=f"{verdict} ({bound} {check.limit:g})", delta_color="normal" if check.passed else "inverse",
                   delta_arrow="off", help=glossary.DISPARITIES[name])
        col.caption(plain(check_sentence(check, grouping.attributes)))
    ff = grouping.four_fifths
    verdict = "not defined" if ff.passed is None else ("pass" if ff.passed else "fail")
    cols[-1].metric("Four-fifths rule", "n/a" if ff.passed is None else f"{ff.ratio:.2f}x",
                    delta=f"{verdict} (≥ 0.8)", delta_color="normal" if ff.passed else "inverse", delta_arrow="off",
                    help="Lowest group selection rate divided by the highest (US EEOC disparate-impact rule of thumb).")
    show_verdict(ff.passed, plain(ff.sentence))


def metric_bars(grouping: GroupingReport, report_key: str) -> None:
    """Group metric bars with 95% bootstrap whiskers, and the table behind them."""
    chosen = st.pills("Metrics", BAR_METRICS, default=["selection_rate", "recall", "false_positive_rate"],
                      selection_mode="multi", format_func=glossary.TITLES.get, key=f"bar_metrics_{grouping.name}",
                      help="Each bar is one group; whiskers are 95% bootstrap confidence intervals.")
    show_chart(cached_bars(report_key, grouping.name, tuple(chosen), grouping))
    if box := opened("Data behind the chart", key="bars_data"):
        table = grouping.intervals_frame()
        box.dataframe(grouping.by_group())
        box.dataframe(table[table["metric"].isin(chosen)], hide_index=True)


def intersection_heatmap(report: FairnessReport) -> None:
    pairs = [g for g in report.groupings if len(g.attributes) == 2]
    if not pairs:
        st.info("Choose two or more sensitive attributes to see their intersections.")
        return
    c1, c2 = st.columns(2)
    grouping = report[c1.selectbox("Intersection", [g.name for g in pairs], key="heat_grouping")]
    metrics = BAR_METRICS + (["roc_auc"] if grouping.roc_auc is not None else [])
    metric = c2.selectbox("Metric", metrics, format_func=glossary.TITLES.get, key="heat_metric",
                          help=glossary.METRICS["selection_rate"])
    table = grouping.heatmap(metric)
    fig = go.Figure(go.Heatmap(z=table.to_numpy(), x=[chart_text(c) for c in table.columns],
                               y=[chart_text(i) for i in table.index], colorscale="Cividis", zmin=0, zmax=1,
                               colorbar={"title": glossary.TITLES[metric]},
                               text=table.round(3).astype(str).to_numpy(), texttemplate="%{text}"))
    fig.update_layout(xaxis_title=chart_text(grouping.attributes[1]), yaxis_title=chart_text(grouping.attributes[0]),
                      height=380, margin={"r": COLORBAR_RIGHT})
    show_chart(fig)
    if box := opened("Data behind the chart", key="heat_data"):
        box.dataframe(table)
        box.dataframe(grouping.by_group())


def threshold_panel(ctx: AuditContext, key: str, grouping_name: str) -> None:
    """Move the decision threshold and see every group rate and disparity at once: the chart's own slider steps
    through a precomputed sweep in the browser."""
    st.caption("Drag the slider under the chart: a row is predicted positive when its score is at least the "
               "threshold. The verdicts above the chart use the policy's limits; every threshold is in the table.")
    show_chart(cached_explorer(key, grouping_name, ctx), key=f"explorer_{key}_{grouping_name}")
    if box := opened("Data behind the chart", key="threshold_data"):
        sweep = cached_sweep(key, ctx)
        box.dataframe(sweep.disparity_frame(grouping_name))
        box.dataframe(sweep.metrics_frame(grouping_name), hide_index=True)


CONSTRAINT_HELP = ("demographic_parity: equal selection rates; equalized_odds: equal true- and false-positive rates; "
                   "true_positive_rate_parity: equal true-positive rates (equal opportunity).")


def mitigation_panel(ctx: AuditContext, key: str, grouping_name: str) -> None:
    """Before/after for a chosen mitigation, the accuracy-vs-disparity front, and the mitigated predictions."""
    methods = applicable_methods(has_scores=ctx.y_score is not None, has_features=bool(ctx.spec.features))
    if not methods:
        st.info("Mitigation needs scores (for group thresholds) or feature columns (to retrain a model).")
        return
    st.caption("Mitigators are fitted and evaluated on the audited rows, so the 'after' numbers are optimistic; "
               "confirm them on held-out data. Retraining uses a logistic regression on the audit's features "
               "(the adversarial classifier trains its own small network).")
    c1, c2 = st.columns(2)
    method = c1.selectbox("Method", methods, format_func=METHOD_TITLES.get, key="mit_method")
    constraint = c2.selectbox("Constraint", CONSTRAINTS, key="mit_constraint", help=CONSTRAINT_HELP)
    if st.button("Run mitigation", key="mit_run"):
        st.session_state["mit_choice"] = (key, method, constraint)  # `key`: the audit (and cohort) it was run on
    if st.session_state.get("mit_choice") != (key, method, constraint):
        return
    try:
        result = cached_mitigation(key, method, constraint, ctx)
    except AuditkitError as e:
        show_error(e)
        return
    table = result.comparison()
    shown = table[table["grouping"].isin(["all rows", grouping_name])]
    chart = go.Figure()
    for i, side in enumerate(["before", "after"]):
        chart.add_bar(name=side, x=shown["metric"].map(glossary.TITLES).fillna("Accuracy (all rows)"),
                      y=shown[side], marker_color=OKABE_ITO[i])
    chart.update_layout(barmode="group", height=380, margin={"t": TITLED_TOP},
                        title=f"Before and after mitigation: {chart_text(grouping_name)}")
    legend_above(chart)
    show_chart(chart)
    if box := opened("Data behind the chart", key="mitigation_data"):
        box.dataframe(table, hide_index=True)
    if result.front is not None:
        disparity = FRONT_DISPARITY[constraint]
        front = result.front
        scatter = go.Figure()
        for flag, colour, label in ((False, OKABE_ITO[4], "other models"), (True, OKABE_ITO[5], "Pareto front")):
            part = front[front["pareto"] == flag]
            scatter.add_scatter(x=part[disparity], y=part["accuracy"], mode="markers", name=label,
                                marker={"color": colour, "size": 10})
        scatter.update_layout(xaxis_title=glossary.TITLES[disparity] + " (worst attribute)", yaxis_title="accuracy",
                              height=360, margin={"t": TITLED_TOP}, title="Accuracy vs disparity trade-off")
        show_chart(scatter)
        if box := opened("Data behind the trade-off chart", key="front_data"):
            box.dataframe(front, hide_index=True)
    frame = result.predictions_frame(ctx.y_true, ctx.y_pred)
    name = f"mitigated_{method}_{constraint}"
    csv_col, xlsx_col, _ = st.columns([1, 1, 2])
    csv_col.download_button("Mitigated predictions (CSV)", lambda: safe_csv(frame), f"{name}.csv", mime="text/csv",
                            key="mit_download", on_click="ignore",
                            help="Cells a spreadsheet would run as formulas are prefixed with an apostrophe.")
    xlsx_col.download_button("Mitigated predictions (XLSX)", lambda: safe_xlsx(frame, sheet="mitigated"),
                             f"{name}.xlsx", mime=XLSX_MEDIA_TYPE, key="mit_download_xlsx", on_click="ignore",
                             help="Text that would run as a formula is stored as text.")


def _picked(event) -> dict | None:
    """The first point a user clicked in a chart drawn with `on_select="rerun"`, or None."""
    points = event.selection.points if event and event.selection else []
    return points[0] if points else None


def error_panel(ctx: AuditContext, key: str) -> None:
    """Worst cohorts by error rate with exact 95% intervals; click a cohort (or a heat-map cell) to filter every
    panel to its rows."""
    try:
        result = cached_errors(key, ctx)
    except AuditkitError as e:
        show_error(e)
        return
    st.caption(f"A shallow decision tree on the features and sensitive attributes predicts where the model is wrong; "
               f"each leaf is a cohort. Overall error rate: {result.overall_error_rate:.1%}. "
               "Click a bar to look at that cohort in every panel.")
    worst = result.cohorts[:10]
    table = result.frame().head(10)
    fig = go.Figure(go.Bar(x=table["error_rate"], y=table["description"].map(chart_text), orientation="h",
                           marker_color=OKABE_ITO[5],
                           error_x={"type": "data", "symmetric": False,
                                    "array": table["ci95"].str[1] - table["error_rate"],
                                    "arrayminus": table["error_rate"] - table["ci95"].str[0]}))
    fig.add_vline(x=result.overall_error_rate, line_dash="dash", annotation_text="overall")
    fig.update_layout(xaxis_title="error rate", yaxis={"autorange": "reversed"}, height=420,
                      margin={"l": label_room(table["description"])}, clickmode="event+select")
    point = _picked(show_chart(fig, on_select="rerun", selection_mode="points",
                               key=f"cohort_bars_{key}"))
    if point is not None:
        cohort = worst[point["point_index"]]
        set_cohort(cohort.rows, cohort.description)
        st.rerun()
    chosen = st.selectbox("Cohort", range(len(worst)), format_func=lambda i: worst[i].description, key=f"cohort_pick_{key}",
                          help="The same cohorts as the bars, worst first.")
    st.button("Filter every panel to this cohort", key="cohort_apply", icon=":material/filter_alt:",
              on_click=set_cohort, args=(worst[chosen].rows, worst[chosen].description))
    if box := opened("Data behind the chart", key="cohorts_data"):
        box.dataframe(result.frame(), hide_index=True)
    columns = list(dict.fromkeys([*ctx.spec.sensitive, *ctx.spec.features]))
    if len(columns) < 2:
        return
    c1, c2 = st.columns(2)
    first = c1.selectbox("Heat map rows", columns, index=0, key="err_first")
    second = c2.selectbox("Heat map columns", [c for c in columns if c != first], key="err_second",
                          help="Error rate for every pair of bins of two columns (numbers in five quantile bins). "
                               "Click a cell to look at its rows in every panel.")
    rate, count = cached_heatmap(key, first, second, ctx)
    heat = go.Figure(go.Heatmap(z=rate.to_numpy(), x=[chart_text(c) for c in rate.columns],
                                y=[chart_text(i) for i in rate.index], colorscale="Cividis",
                                colorbar={"title": "error rate"}, text=count.to_numpy().astype(str),
                                texttemplate="n=%{text}"))
    heat.update_layout(xaxis_title=chart_text(second), yaxis_title=chart_text(first), height=380,
                       margin={"r": COLORBAR_RIGHT})
    point = _picked(show_chart(heat, on_select="rerun", selection_mode="points",
                               key=f"cohort_heat_{key}_{first}_{second}"))
    if point is not None:
        y, x = html.unescape(str(point["y"])), html.unescape(str(point["x"]))  # the cell's labels, as in the data
        rows = heatmap_cell_rows(ctx.frame, first, second, y, x)
        set_cohort(rows, f"{first} = {y} and {second} = {x}")
        st.rerun()
    if box := opened("Data behind the heat map", key="heatmap_data"):
        box.dataframe(rate)
        box.dataframe(count)


def counterfactual_panel(ctx: AuditContext, key: str) -> None:
    st.caption("Each text is re-scored with identity terms swapped (he/she, christian/muslim, ...). A fair model's "
               "prediction should not flip and its score should barely move.")
    if not st.button("Run the identity-term swap test", key="cf_run") and st.session_state.get("cf_done") != key:
        return
    st.session_state["cf_done"] = key  # the audit it was run on: another audit's test waits for its own click
    try:
        report = cached_counterfactual(key, ctx)
    except AuditkitError as e:
        show_error(e)
        return
    pairs = report.pairs
    labels = (pairs["term_a"] + " → " + pairs["term_b"]).map(chart_text)
    fig = go.Figure()
    fig.add_bar(name="flip rate", x=labels, y=pairs["flip_rate"], marker_color=OKABE_ITO[5])
    fig.add_bar(name="mean score shift", x=labels, y=pairs["mean_score_shift"], marker_color=OKABE_ITO[0])
    fig.update_layout(barmode="group", height=380)
    legend_above(fig)
    show_chart(fig)
    if box := opened("Data behind the chart", key="counterfactual_data"):
        box.dataframe(pairs, hide_index=True)
        box.dataframe(report.terms, hide_index=True)
    st.subheader("Largest score changes")
    st.dataframe(report.examples, hide_index=True)


def class_report(ctx: AuditContext, key: str) -> tuple[FairnessReport, str]:
    """Multiclass: the macro view in a table, and the one-vs-rest report of the chosen class for the panel (with
    its cache key)."""
    multi = cached_report(key, ctx)
    st.info(f"Multiclass model ({len(multi.classes)} classes): each class is assessed one-vs-rest; the table shows "
            "the macro view (disparities averaged over classes).")
    macro = {name: multi.macro_disparities(name) for name in multi.names}
    st.dataframe(pd.DataFrame(macro).T.rename(columns=glossary.TITLES))
    chosen = st.selectbox("Class (one-vs-rest)", multi.classes, key="ovr_class",
                          help="The panel below treats this class as the positive outcome and every other as negative.")
    return multi.per_class[chosen], f"{key}/class={chosen}"


def main() -> None:
    st.title("Fairness")
    st.caption("Does the model treat groups differently, how much, and how sure are we? Every number is computed per "
               "sensitive attribute and per intersection, with 95% bootstrap confidence intervals.")
    ctx = current_context()
    if ctx is None:
        show_empty_state()
        st.stop()
    key = context_key(ctx)
    if ctx.cohort:
        kept = set(compared(ctx).columns)
        for column in (c for c in ctx.spec.sensitive if c not in kept):
            st.caption(f"Every row of this cohort has {plain(column)} = {plain(ctx.frame[column].iloc[0])}, "
                       "so it is not compared here.")
        if not kept:
            st.info("This cohort holds a single group of every sensitive attribute: there is nothing to compare. "
                    "Show all rows, or pick a wider cohort.")
            st.stop()
    multiclass = len(set(ctx.classes)) > 2
    try:
        report, report_key = class_report(ctx, key) if multiclass else (cached_report(key, ctx), key)
    except AuditkitError as e:
        show_error(e)
        st.stop()
    name = st.selectbox("Sensitive attribute or intersection", report.names,
                        help="Intersections (a&b) compare combined groups, e.g. women of one age band.")
    grouping = report[name]
    for note in grouping.warnings:
        st.warning(plain(note))
    disparity_cards(grouping)
    text_model = ctx.model is not None and ctx.model.family.input_role == "text" and bool(ctx.spec.text_column)
    label, tab = selected_tab(["Group metrics", "Intersections", "Threshold", "Mitigation", "Error analysis"]
                              + (["Counterfactual text test"] if text_model else []), key="fairness_tab")
    with tab:
        if label == "Group metrics":
            metric_bars(grouping, report_key)
        elif label == "Intersections":
            intersection_heatmap(report)
        elif label == "Threshold" and (ctx.y_score is None or multiclass):
            st.info("The decision threshold can be moved for binary models with scores (probabilities) only.")
        elif label == "Threshold":
            threshold_panel(ctx, key, name)
        elif label == "Mitigation" and multiclass:
            st.info("Mitigation here supports binary labels; fairlearn's mitigators do not handle multiclass models.")
        elif label == "Mitigation":
            mitigation_panel(ctx, key, name)
        elif label == "Error analysis":
            error_panel(ctx, key)
        else:
            counterfactual_panel(ctx, key)


main()
