"""Energy: what the audit run cost in kWh and CO2e, what a deployment and a training run would cost,
and what cheaper variants of the model trade for it."""
from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from auditkit.chart_style import COLORBAR_RIGHT
from auditkit.context import AuditContext
from auditkit.energy.carbon import DEFAULT_REGION, regions
from auditkit.energy.equivalents import equivalents
from auditkit.energy.projection import ACCELERATORS, estimate_training, project_deployment
from auditkit.energy.section import EnergyResult, components_frame, phases_frame
from auditkit.errors import AuditkitError
from auditkit.hashing import params_hash
from auditkit.markup import plain
from dashboard.access import enforce_entry
from dashboard.energy_results import cached_phase_bars, cached_variants
from dashboard.shared import (current_audit, current_context, opened, selected_tab, show_chart, show_empty_state,
                              show_error, show_outcome)

enforce_entry()  # sign-in first, when configured

HELP = {
    "kwh": "Electricity used by the audited run, summed over its phases (load, inference, explanations, training), "
           "after subtracting the idle power measured before the run.",
    "co2e": "Kilograms of CO2-equivalent: the kWh times the average carbon intensity of the chosen country's grid "
            "(codecarbon's offline data).",
    "per1k": "Electricity of the inference phase divided by the number of predictions, times 1,000.",
    "method": "'measured' means hardware energy counters or power sensors (narrow uncertainty); 'estimated' means "
              "the process's CPU time x a power per CPU-second, or a memory model (wide uncertainty, shown below "
              "the cards).",
}


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "n/a"
    return f"{value:.3g} {unit}".strip()


def estimate_text(result: EnergyResult) -> str:
    """How the figures were obtained and their uncertainty, in one sentence."""
    text = result.method_text[:1].upper() + result.method_text[1:]
    if result.cpu_seconds is not None and result.watts_per_cpu_second is not None:
        text += (f" ({result.cpu_seconds:.3g} CPU-seconds x {result.watts_per_cpu_second:.3g} W per CPU-second; "
                 "the CPU has no readable energy counter)")
    if result.kwh_interval:
        (low, high), (clow, chigh) = result.kwh_interval, result.co2e_kg_interval or (math.nan, math.nan)
        text += f": {low:.3g} to {high:.3g} kWh, {clow:.3g} to {chigh:.3g} kg CO2e"
    if result.kwh_per_1k_predictions_interval:
        low, high = result.kwh_per_1k_predictions_interval
        text += f", {low:.3g} to {high:.3g} kWh per 1,000 predictions"
    return text + "."


def headline(result: EnergyResult) -> None:
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Energy (kWh)", _fmt(result.kwh), help=HELP["kwh"])
    c2.metric(f"CO2e (kg, {plain(result.region)})", _fmt(result.co2e_kg), help=HELP["co2e"])
    c3.metric("kWh per 1,000 predictions", _fmt(result.kwh_per_1k_predictions), help=HELP["per1k"])
    c4.metric("Method", result.method, help=HELP["method"])
    st.caption(estimate_text(result))
    if result.carbon is not None:
        ci = result.carbon
        st.caption(f"Grid intensity {ci.g_per_kwh:.1f} g CO2e/kWh ({ci.country_name}, {ci.year}).")
    idle = result.idle
    if idle:
        st.caption(f"Idle baseline: {idle.watts:.1f} W over {idle.seconds:.1f} s, measured before the run and "
                   "subtracted from every phase (shown separately as idle kWh in the table).")
        if result.kwh == 0:
            st.info("The run used no measurable energy above the idle baseline: on a machine busy with other work, "
                    "a short run cannot be told apart from the background load. Re-run the audit on an otherwise "
                    "idle machine for a net figure.")


def phase_chart(result: EnergyResult) -> None:
    if not result.phases:
        st.info("No phase was measured.")
        return
    show_chart(cached_phase_bars(params_hash([p.to_dict() for p in result.phases]), result))
    if box := opened("Data behind the chart", key="phases_data"):
        box.dataframe(phases_frame(result), hide_index=True)
    if box := opened("How each component was measured", key="components_data"):
        box.dataframe(components_frame(result), hide_index=True)


def projection(result: EnergyResult, region: str) -> None:
    per1k = result.kwh_per_1k_predictions
    if not per1k:
        st.info("No inference phase with predictions was measured, so there is nothing to project.")
        return
    c1, c2 = st.columns(2)
    per_day = c1.number_input("Predictions per day", min_value=1, value=100_000, step=10_000,
                              help="How many predictions the model would serve each day in production.")
    pue = c2.number_input("PUE", min_value=1.0, value=1.0, step=0.05,
                          help="Data-centre power usage effectiveness: total facility energy / IT energy (1.0 = none).")
    try:
        p = project_deployment(kwh_per_1k_predictions=per1k, predictions_per_day=per_day, region=region, pue=pue)
    except AuditkitError as e:
        show_error(e)
        return
    c1, c2 = st.columns(2)
    c1.metric("kWh per year", _fmt(p.kwh_per_year), help="kWh per 1,000 predictions x predictions/day / 1,000 x "
                                                         "365 x PUE.")
    c2.metric("kg CO2e per year", _fmt(p.co2e_kg_per_year), help=HELP["co2e"])
    show_equivalents(p.co2e_kg_per_year, "a year of this deployment")


def show_equivalents(co2e_kg: float, what: str) -> None:
    table = pd.DataFrame([e.to_dict() for e in equivalents(co2e_kg)])
    st.markdown(f"**{what.capitalize()} emits about as much as:**")
    for e in equivalents(co2e_kg, relatable_only=True):
        st.markdown(f"- {e.text()}")
    if box := opened("Sources of the equivalents", key=f"equivalents_data_{what}"):
        box.dataframe(table, hide_index=True)


def training_form(ctx: AuditContext | None) -> None:
    st.subheader("Training estimate (transformers)")
    st.caption("FLOPs ≈ 6 × parameters × training tokens; hours = FLOPs / sustained throughput; "
               "kWh = hours × power × PUE. Every assumption below can be edited.")
    params_default = ctx.model.info.parameters if ctx is not None and ctx.model is not None else 110_000_000
    c1, c2, c3 = st.columns(3)
    params = c1.number_input("Parameters", min_value=1, value=int(params_default), step=1_000_000,
                             help="Number of trainable weights (pre-filled from the loaded model when there is one).")
    tokens = c2.number_input("Training tokens", min_value=1, value=1_000_000_000, step=100_000_000,
                             help="Tokens seen in training (dataset tokens x epochs).")
    name = c3.selectbox("Accelerator", list(ACCELERATORS), help="Table figures are datasheet peak and TDP.")
    acc = ACCELERATORS[name]
    c1, c2, c3, c4 = st.columns(4)
    peak = c1.number_input("Peak TFLOPS", min_value=0.001, value=acc.peak_tflops, key=f"peak_{name}",
                           help=f"Peak throughput ({acc.precision}).")
    util = c2.number_input("Utilisation", min_value=0.01, max_value=1.0, value=acc.utilisation, key=f"util_{name}",
                           help="Sustained share of peak actually reached in training (model FLOPs utilisation).")
    power = c3.number_input("Power per device (W)", min_value=1.0, value=acc.power_w, key=f"power_{name}",
                            help="Average board power while training; the table uses the TDP.")
    n_dev = c4.number_input("Devices", min_value=1, value=8, help="Number of accelerators (changes wall time only).")
    region = st.session_state.get("energy_region", DEFAULT_REGION)
    try:
        est = estimate_training(params=params, tokens=tokens, accelerator=acc, peak_tflops=peak, utilisation=util,
                                power_w=power, n_accelerators=n_dev, region=region)
    except AuditkitError as e:
        show_error(e)
        return
    c1, c2, c3 = st.columns(3)
    c1.metric("Accelerator-hours", _fmt(est.accelerator_hours), help="Total device time at sustained throughput.")
    c2.metric("kWh", _fmt(est.kwh), help="Accelerator-hours x power x PUE.")
    c3.metric(f"kg CO2e ({plain(est.region)})", _fmt(est.co2e_kg), help=HELP["co2e"])
    st.dataframe(pd.DataFrame([{"assumption": k, "value": str(v)} for k, v in est.to_dict()["accelerator"].items()]),
                 hide_index=True)


def variants(ctx: AuditContext | None, region: str) -> None:
    if ctx is None or ctx.model is None:
        st.info("Variants need an audit that ran a model (not a predictions-only audit).")
        return
    st.caption("The loaded model against cheaper copies of itself: dynamic int8 quantization (CPU) and "
               "float16/bfloat16 (GPU only). The loaded model itself is never changed.")
    if not st.toggle("Run the variants comparison", key="energy_variants",
                     help="Runs each variant on up to 5,000 rows; takes a few seconds on CPU."):
        return
    try:
        result = cached_variants(ctx.data_sha256, ctx.model.sha256, region, ctx)
    except AuditkitError as e:
        show_error(e)
        return
    table = pd.DataFrame(result["variants"])
    fig = go.Figure(go.Scatter(
        x=table["kwh_per_1k_predictions"], y=table["accuracy"], mode="markers+text", text=table["name"],
        textposition="top center",
        marker=dict(size=14, color=table["demographic_parity_difference"], colorscale="Cividis", showscale=True,
                    colorbar=dict(title="DP diff."))))
    fig.update_layout(xaxis_title="kWh per 1,000 predictions", yaxis_title="accuracy", height=360,
                      margin={"r": COLORBAR_RIGHT})
    show_chart(fig)
    st.dataframe(table, hide_index=True)
    for name, why in result["skipped"].items():
        st.caption(f"{plain(name)}: skipped ({plain(why)}).")


def main() -> None:
    st.title("Energy and carbon")
    audit = current_audit()
    ctx = current_context(filtered=False)  # energy is the whole run's
    if audit is None:
        show_empty_state()
        training_form(None)
        return
    section = audit.get("energy")
    if not section or show_outcome("Energy measurement", section):
        if not section:
            st.info("Energy is measured when the audit runs a model; this audit used stored predictions only.")
        training_form(ctx)
        return
    result = EnergyResult.from_dict(section)
    if result.error:
        st.warning(plain(result.error))
    codes = list(regions())
    names = regions()
    start = result.region if result.region in names else DEFAULT_REGION
    region = st.selectbox("Region (grid carbon intensity)", codes, index=codes.index(start), key="energy_region",
                          format_func=lambda c: f"{names[c]} ({c})",
                          help="Country whose average grid carbon intensity converts kWh into CO2e.")
    measured = result.measured
    if measured:
        result = result.in_region(region)
        headline(result)
    label, tab = selected_tab((["This run", "Deployment projection"] if measured else [])
                              + ["Efficiency variants", "Training estimate"], key="energy_tab")
    with tab:
        if label == "This run":
            phase_chart(result)
            show_equivalents(result.co2e_kg, "this audit run")
        elif label == "Deployment projection":
            projection(result, region)
        elif label == "Efficiency variants":
            variants(ctx, region)
        else:
            training_form(ctx)


main()
