"""Privacy: the model's differential-privacy guarantee, empirical leakage, and personal data in the dataset."""
from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from auditkit.chart_style import OKABE_ITO, legend_above
from auditkit.context import AuditContext
from auditkit.errors import AuditkitError
from auditkit.hashing import params_hash
from auditkit.privacy.accounting import ACCOUNTANT_NOTES, ACCOUNTANTS
from auditkit.jobs import BackgroundJob
from auditkit.markup import plain
from auditkit.outcome import Skipped
from auditkit.privacy.artifacts import trained_part
from auditkit.privacy.kanonymity import k_anonymity
from auditkit.privacy.pii import PIIScanResult
from auditkit.privacy.results import DPSummary, MembershipAudit, PrivacyReport
from auditkit.privacy.splits import text_training_data, training_data
from auditkit.privacy.sweep import DEFAULT_TARGETS, privacy_utility_sweep
from auditkit.privacy.text import dp_finetune_in_worker, safetensors_bytes
from auditkit.privacy.training import DPResult, dp_train
from dashboard.access import allowed, enforce_entry, explain_not_allowed
from dashboard.privacy_results import cached_epsilon, cached_noise, cached_section
from dashboard.shared import (audit_key, current_context, ended_job, opened, selected_tab, session_jobs, show_chart,
                              show_empty_state, show_error, show_outcome)

enforce_entry()  # sign-in first, when configured

PAGE = "privacy"  # this page's background jobs live in session state `privacy_jobs` (`session_jobs`)

HELP = {
    "epsilon": "Epsilon bounds how much any one person's record can change what the model learns. Smaller is more "
               "private: below 1 is strong, 1-8 is common in practice, above 10 is weak.",
    "delta": "Delta is the small probability that the epsilon guarantee does not hold. It should be far below "
             "1 / number of training rows.",
    "noise": "Noise multiplier: Gaussian noise added to each training step, relative to the clipping norm.",
    "accountant": "The method that adds up the privacy cost of all training steps.",
    "auc": "How well an attacker can tell training rows from held-out rows. 0.5 means no better than a coin flip; "
           "1.0 means every training row can be recognised.",
    "advantage": "The attacker's best true-positive rate minus false-positive rate (0 = no advantage).",
    "eps_lb": "The smallest epsilon consistent with the attack's success, at 95% confidence. A DP model's epsilon "
              "must be at least this; a larger value here would refute the claimed guarantee.",
    "tpr1": "Share of training rows the attacker recognises while wrongly flagging only 1% of held-out rows.",
    "k": "The smallest number of rows sharing the same values of the chosen columns. Rows in smaller groups can be "
         "singled out by anyone who knows those attributes.",
    "layers": "0 trains only the classification head. N also trains the pooler and the last N encoder layers "
              "privately: usually more accurate, slower, and the same privacy accounting.",
}


def epsilon_meaning(eps: float) -> str:
    if eps <= 1:
        return "strong protection: the model's behaviour barely depends on any one person's record."
    if eps <= 8:
        return "moderate protection, typical of deployed private models."
    return "weak protection: the guarantee allows a single record to change the model noticeably."


def curve_chart(curve: list[dict] | tuple[dict, ...], target: float | None) -> None:
    data = pd.DataFrame(curve)
    fig = go.Figure(go.Scatter(x=data["step"], y=data["epsilon"], mode="lines+markers", name="epsilon spent",
                               line={"color": OKABE_ITO[0]}))
    if target is not None:
        fig.add_hline(y=target, line_dash="dash", line_color=OKABE_ITO[5], annotation_text="target")
    fig.update_layout(xaxis_title="training step", yaxis_title="epsilon spent", height=320)
    show_chart(fig)
    if box := opened("Data: epsilon over steps", key="epsilon_data"):
        box.dataframe(data, hide_index=True)


def guarantee_cards(dp: DPSummary | DPResult) -> None:
    """The guarantee of a recorded (`DPSummary`) or just trained (`DPResult`) private model."""
    st.subheader("Differential-privacy guarantee")
    c = st.columns(4)
    c[0].metric("Epsilon (ε)", f"{dp.epsilon:.3f}", help=HELP["epsilon"])
    c[1].metric("Delta (δ)", f"{dp.delta:.0e}", help=HELP["delta"])
    c[2].metric("Noise multiplier", f"{dp.noise_multiplier:.3f}", help=HELP["noise"])
    c[3].metric("Accountant", plain(str(dp.accountant).upper()), help=HELP["accountant"])
    st.markdown(f"**What this means:** with probability at least 1 − {dp.delta:.0e}, adding or removing any one "
                f"person's record changes the probability of any outcome of training by at most a factor "
                f"e^{dp.epsilon:.2f} ≈ {2.718281828 ** dp.epsilon:.1f}; {epsilon_meaning(dp.epsilon)}")
    st.caption(f"Clipping norm {plain(dp.max_grad_norm)}, sample rate {dp.sample_rate:.5f} ({plain(dp.sampling)} "
               f"sampling), {dp.steps} steps over {dp.epochs} epochs.")


def recorded_guarantee(dp: DPSummary) -> None:
    guarantee_cards(dp)
    if not dp.record_consistent:
        st.error("The recorded epsilon does not match the accountant's value for the recorded settings.")
    if dp.matches_audited_model is False:
        st.warning("The DP record belongs to a different model file than the one audited.")
    rows = [{"accountant": a, "epsilon": e, "note": ACCOUNTANT_NOTES[a]} for a, e in dp.epsilon_recomputed.items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    if dp.epsilon_curve:
        curve_chart(dp.epsilon_curve, None)
    for note in dp.not_covered:
        st.info(plain(note))


@st.fragment
def calculator() -> None:
    """Reruns on its own, so a slow noise search (seconds with PRV) leaves the rest of the page alone."""
    st.subheader("Epsilon calculator")
    st.caption("DP-SGD with Poisson sampling: how much privacy a training run spends, or how much noise it needs.")
    with st.form("eps_calc"):
        c = st.columns(5)
        mode = c[0].radio("Compute", ["epsilon", "noise multiplier"], help="Epsilon from noise, or the reverse.")
        value = c[1].number_input("Noise multiplier / target epsilon", min_value=0.01, value=1.0, step=0.1,
                                  help="The noise multiplier when computing epsilon; the target epsilon otherwise.")
        q = c[2].number_input("Sample rate", min_value=1e-6, max_value=1.0, value=0.01, format="%.5f",
                              help="Expected batch size / number of training rows.")
        steps = c[3].number_input("Steps", min_value=1, value=1000, step=100, help="Epochs / sample rate.")
        delta = c[4].number_input("Delta", min_value=1e-12, max_value=0.5, value=1e-5, format="%.1e",
                                  help=HELP["delta"])
        accountant = st.selectbox("Accountant", ACCOUNTANTS, help=" ".join(ACCOUNTANT_NOTES.values()))
        submitted = st.form_submit_button("Calculate")
    if submitted:
        try:
            if mode == "epsilon":
                eps = cached_epsilon(float(value), float(q), int(steps), float(delta), accountant)
                st.metric("Epsilon spent", f"{eps:.4f}", help=HELP["epsilon"])
                st.markdown(f"**Meaning:** {epsilon_meaning(eps)}")
            else:
                sigma = cached_noise(float(value), float(q), int(steps), float(delta), accountant)
                st.metric("Noise multiplier needed", f"{sigma:.4f}", help=HELP["noise"])
        except AuditkitError as e:
            show_error(e)


def summary_cards(report: PrivacyReport) -> None:
    """The page's answers in four cards: guarantee, measured leakage, personal data, re-identification risk."""
    dp, attack, kanon = report.dp, report.attack, report.k_anonymity
    c = st.columns(4)
    c[0].metric("Formal guarantee", f"ε = {dp.epsilon:.2f}" if dp else "none", help=HELP["epsilon"])
    c[1].metric("Attack AUC", "not run" if attack is None else f"{attack.auc:.3f}", help=HELP["auc"])
    found = sum(report.pii.totals.values())
    c[2].metric("Personal data", f"{found:,} cells" if found else "none found",
                help="E-mail addresses, card numbers, national IDs, IP addresses, phone numbers and name columns.")
    if kanon:
        c[3].metric("k-anonymity", kanon.k, delta="pass" if kanon.passes else "fail", delta_arrow="off",
                    delta_color="normal" if kanon.passes else "inverse",
                    help=f"{HELP['k']} Quasi-identifiers: {plain(', '.join(kanon.quasi_identifiers))}; "
                         f"threshold {kanon.threshold}.")


def mia_panel(mia: MembershipAudit | Skipped, dp: DPSummary | None) -> None:
    st.subheader("Empirical leakage: membership inference")
    if show_outcome("Membership inference", mia):
        return
    attack = mia.result
    c = st.columns(4)
    c[0].metric("Attack AUC", f"{attack.auc:.3f}", help=HELP["auc"])
    c[1].metric("Attacker advantage", f"{attack.advantage:.3f}", help=HELP["advantage"])
    c[2].metric("Empirical ε lower bound", f"{attack.epsilon_lower_bound:.2f}", help=HELP["eps_lb"])
    c[3].metric("TPR at 1% FPR", f"{attack.strongest.tpr_at_1pct_fpr:.3f}", help=HELP["tpr1"])
    if dp is not None:
        verdict = ("consistent with" if attack.epsilon_lower_bound <= dp.epsilon else "CONTRADICTS")
        st.markdown(f"The attacks imply ε ≥ {attack.epsilon_lower_bound:.2f}; the DP guarantee claims ε = "
                    f"{dp.epsilon:.2f}: the measurement is {verdict} the guarantee.")
    st.caption(f"{attack.n_members:,} training rows (split = train) against {attack.n_nonmembers:,} held-out rows "
               f"(split = test).")
    fig = go.Figure()
    rows = []
    for i, a in enumerate(attack.attacks):
        fig.add_trace(go.Scatter(x=a.roc_fpr, y=a.roc_tpr, mode="lines", name=f"{a.attack} (AUC {a.auc:.3f})",
                                 line={"color": OKABE_ITO[i]}))
        rows += [{"attack": a.attack, "false positive rate": f, "true positive rate": t}
                 for f, t in zip(a.roc_fpr, a.roc_tpr)]
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"color": "#888", "dash": "dot"}))
    fig.update_layout(xaxis_title="false positive rate", yaxis_title="true positive rate", height=380)
    legend_above(fig)
    show_chart(fig)
    if box := opened("Data: ROC curves and attack summary", key="attack_data"):
        box.dataframe(pd.DataFrame(list(attack.attacks)).drop(columns=["roc_fpr", "roc_tpr"]), hide_index=True)
        box.dataframe(pd.DataFrame(rows), hide_index=True)
    if attack.groups:
        st.markdown("**By sensitive group** (groups with at least 10 training and 10 held-out rows)")
        st.dataframe(pd.DataFrame(list(attack.groups)), hide_index=True)
    for note in attack.notes:
        st.caption(plain(note))


def data_privacy(ctx: AuditContext, pii: PIIScanResult) -> None:
    st.subheader("Personal data in the dataset")
    st.caption("Scanned on this server; nothing is sent anywhere. Examples are masked.")
    totals = {k: v for k, v in pii.totals.items() if v}
    if not totals:
        st.success("No e-mail addresses, card numbers, national IDs, IP addresses, phone numbers or name columns "
                   "were found.")
    else:
        st.warning(f"Personal data found in {len(pii.columns_with_pii)} column(s): "
                   + ", ".join(f"{plain(k)} {v:,} cells" for k, v in totals.items()))
        st.dataframe(pii.table(), hide_index=True)
    columns = [c for c in ctx.frame.columns]
    default = [c for c in ctx.spec.sensitive if c in columns]
    qi = st.multiselect("Quasi-identifiers for k-anonymity", columns, default=default,
                        help="Columns an outsider might know about a person (age, zip code, sex, ...).")
    k_min = st.number_input("k threshold", min_value=1, value=5, help=HELP["k"])
    if qi:
        r = k_anonymity(ctx.frame, qi, threshold=int(k_min))
        c = st.columns(3)
        c[0].metric("k", r.k, help=HELP["k"])
        c[1].metric("Rows in groups below k", f"{r.rows_below:,}", help="These rows can be singled out.")
        c[2].metric("Share of rows below k", f"{r.fraction_below:.1%}")


def training_panel(ctx: AuditContext) -> None:
    st.subheader("Train privately (DP-SGD)")
    if ctx.model is None:
        st.info("This audit has no model (its predictions come from the dataset), so there is no model to train a "
                "private copy of. Train one from a dataset with `python -m auditkit train-dp`.")
        return
    text = ctx.model.family.input_role == "text"
    if not allowed("run"):
        explain_not_allowed("run", "Training a private model")
        return
    audit = audit_key(ctx)  # the jobs of this audit: a model trained for one audit never shows on another
    st.caption("Fine-tunes a copy of the text classifier on this audit's training rows with Opacus DP-SGD"
               if text else "Trains a copy of the tabular MLP on this audit's training rows with Opacus DP-SGD")
    st.caption("The audited model is never changed. Runs in the background.")
    with st.form("dp_train"):
        c = st.columns(4)
        eps = c[0].number_input("Target epsilon", min_value=0.05, value=2.0, help=HELP["epsilon"])
        delta = c[1].number_input("Delta", min_value=1e-12, max_value=0.5, value=1e-5, format="%.1e",
                                  help=HELP["delta"])
        epochs = c[2].number_input("Epochs", min_value=1, max_value=200, value=5)
        accountant = c[3].selectbox("Accountant", ACCOUNTANTS, help=HELP["accountant"])
        c1 = st.columns(2)
        batch_size = c1[0].number_input("Batch size (expected)", min_value=8, value=256,
                                        help="Rows per step on average; each row joins each step with probability "
                                             "batch size / training rows (Poisson sampling).")
        if text:
            layers = c1[1].number_input("Trainable encoder layers", min_value=0,
                                        max_value=ctx.model.info.encoder_layers, value=0, help=HELP["layers"])
        else:
            targets_text = c1[1].text_input("Sweep targets (epsilon)", ", ".join(map(str, DEFAULT_TARGETS)),
                                            help="Comma-separated epsilon values for the privacy-utility sweep.")
        c2 = st.columns(2)
        train_clicked = c2[0].form_submit_button("Train at this epsilon")
        sweep_clicked = False if text else c2[1].form_submit_button(
            "Run the privacy-utility sweep", help="Trains at each sweep target and once without privacy.")
    if text and train_clicked:
        try:
            data = text_training_data(ctx)
        except AuditkitError as e:
            show_error(e)
            return
        session_jobs(PAGE)[("train", audit)] = BackgroundJob(
            "DP fine-tuning", dp_finetune_in_worker, ctx.model, data.texts_train, data.y_train,
            target_epsilon=float(eps), target_delta=float(delta), epochs=int(epochs), accountant=accountant,
            batch_size=min(int(batch_size), len(data.texts_train)), texts_eval=data.texts_eval,
            labels_eval=data.y_eval, trainable_layers=int(layers))
    elif train_clicked or sweep_clicked:
        try:
            data = training_data(ctx)
        except AuditkitError as e:
            show_error(e)
            return
        try:
            targets = [float(t) for t in targets_text.replace(";", ",").split(",") if t.strip()]
        except ValueError:
            st.error("Sweep targets must be numbers separated by commas, e.g. 0.5, 1, 2, 4, 8.")
            return
        options = dict(target_delta=float(delta), epochs=int(epochs), accountant=accountant,
                       batch_size=min(int(batch_size), len(data.X_train)), X_eval=data.X_eval, y_eval=data.y_eval)
        if train_clicked:
            session_jobs(PAGE)[("train", audit)] = BackgroundJob(
                "DP training", dp_train, data.template(), data.X_train, data.y_train, target_epsilon=float(eps),
                **options)
        else:
            session_jobs(PAGE)[("sweep", audit)] = BackgroundJob(
                "Privacy-utility sweep", privacy_utility_sweep, data.template(), data.X_train, data.y_train,
                targets=targets, **options)
    for name, show in (("train", trained_result), ("sweep", lambda r: sweep_chart(r.to_dict()))):
        try:
            job = ended_job(PAGE, (name, audit), unit="training steps")
        except AuditkitError as e:
            show_error(e)
            continue
        if job is not None and job.result is not None:
            show(job.result)


def trained_result(r: DPResult) -> None:
    record = r.to_dict()
    guarantee_cards(r)
    base = f"{r.baseline_accuracy:.3f}" if r.baseline_accuracy is not None else "n/a"
    st.markdown(f"Accuracy on {r.evaluated_on} rows: **{r.accuracy:.3f}** with privacy, {base} without "
                f"(same recipe), {r.majority_accuracy:.3f} by always predicting the majority class.")
    if r.trained_modules:
        st.caption(f"Trained: {plain(trained_part(r))}.")
    for w in r.warnings:
        st.warning(plain(w))
    curve_chart(record["epsilon_curve"], r.target_epsilon)
    st.download_button("Download model weights (safetensors)", weights_bytes(r), "model.safetensors",
                       mime="application/octet-stream")
    st.download_button("Download privacy record (JSON)", json.dumps(record, indent=2), "privacy.json",
                       mime="application/json")


def weights_bytes(r) -> bytes:
    return safetensors_bytes(r)


def sweep_chart(s: dict) -> None:
    st.markdown("**Privacy-utility trade-off**")
    data = pd.DataFrame(s["points"])
    fig = go.Figure(go.Scatter(x=data["epsilon"], y=data["accuracy"], mode="lines+markers", name="DP-SGD",
                               line={"color": OKABE_ITO[0]}))
    fig.add_hline(y=s["baseline_accuracy"], line_dash="dash", line_color=OKABE_ITO[1], annotation_text="non-private")
    fig.add_hline(y=s["majority_accuracy"], line_dash="dot", line_color="#888", annotation_text="majority class")
    fig.update_layout(xaxis_title="epsilon", xaxis_type="log", yaxis_title=f"accuracy ({s['evaluated_on']} rows)",
                      height=340)
    show_chart(fig)
    if box := opened("Data: accuracy by epsilon", key="sweep_data"):
        table = pd.concat([data, pd.DataFrame([{"target_epsilon": None, "epsilon": None, "noise_multiplier": 0.0,
                                                "accuracy": s["baseline_accuracy"]}])], ignore_index=True)
        box.dataframe(table, hide_index=True)


def main() -> None:
    st.title("Privacy")
    st.markdown("Does the model carry a privacy guarantee, does it hold up against attacks, and does the data "
                "itself expose people?")
    ctx = current_context()
    if ctx is None:
        show_empty_state()
        calculator()
        return
    try:  # the audit's own report; a cohort's rows get their own checks
        report = cached_section(params_hash({"data": ctx.data_sha256, "model": ctx.model.sha256 if ctx.model else None,
                                             "extra": ctx.spec.extra}), ctx)
    except AuditkitError as e:
        show_error(e)
        return
    dp = report.dp
    summary_cards(report)
    label, tab = selected_tab(["Guarantee", "Membership inference", "Personal data", "Epsilon calculator",
                               "Train privately"], key="privacy_tab")
    with tab:
        if label == "Guarantee" and dp:
            recorded_guarantee(dp)
        elif label == "Guarantee":
            st.info("No differential-privacy record is attached to this model, so it carries no formal guarantee. "
                    "Train a private version in *Train privately* or with `python -m auditkit train-dp`.")
        elif label == "Membership inference":
            mia_panel(report.membership_inference, dp)
        elif label == "Personal data":
            data_privacy(ctx, report.pii)
        elif label == "Epsilon calculator":
            calculator()
        else:
            training_panel(current_context(filtered=False))  # models are trained on every row, never on a cohort

main()
