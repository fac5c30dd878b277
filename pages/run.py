"""Run & summary: run the pending audit with progress, then show the headline numbers."""
import streamlit as st

from auditkit.errors import AuditkitError
from auditkit.markup import plain
from dashboard.access import enforce_entry
from dashboard.shared import (PENDING, current_audit, opened, run_pending, show_empty_state, show_error, show_outcome,
                              show_verdict)

enforce_entry()  # sign-in first, when configured

st.title("Run & summary")
pending = st.session_state.pop(PENDING, None)
if pending is not None:
    st.caption(f"Auditing {plain(pending.title or pending.data_name)}")
    try:
        run_pending(pending)
    except AuditkitError as e:
        show_error(e)
        st.stop()

audit = current_audit()
if audit is None:
    show_empty_state()
    st.stop()

inputs, preds = audit["inputs"], audit["predictions"]
card = audit.get("scorecard")
if card:
    counts = card["counts"]
    show_verdict(not counts["fail"], f"**Policy {plain(card['policy'])}: {counts['pass']} passed, "
                 f"{counts['fail']} failed, {counts['not_measured']} not measured.**")
    st.dataframe(
        [{"Rule": r["name"], "Result": r["status"].replace("_", " "), "Value": r["value"], "Requirement": r["message"]}
         for r in card["results"]],
        hide_index=True)
cols = st.columns(4)
cols[0].metric("Rows audited", f"{inputs['rows']:,}")
cols[1].metric("Accuracy", f"{preds['accuracy']:.1%}", help="Share of rows where the prediction equals the true label.")
cols[2].metric("Predicted favourable", f"{preds['positive_rate']:.1%}",
               help="Share of rows that received the favourable outcome from the model.")
if "seconds" in preds:
    cols[3].metric("Inference time", f"{preds['seconds']:.2f} s", help="Wall time of the model over all rows"
                   + (" (read from the cache: no inference ran)" if preds.get("cached") else "") + ".")
for warning in inputs.get("warnings", []):
    st.warning(plain(warning))
for name, section in audit.items():
    show_outcome(f"The {plain(name)} panel", section)

st.subheader("Panels")
links = st.columns(5)
for col, (page, label, icon) in zip(links, [("pages/fairness.py", "Fairness", "balance"),
                                             ("pages/explanations.py", "Explanations", "insights"),
                                             ("pages/privacy.py", "Privacy", "lock"), ("pages/energy.py", "Energy", "bolt"),
                                             ("pages/report.py", "Report", "description")]):
    with col.container(border=True):
        st.page_link(page, label=f"Open {label}", icon=f":material/{icon}:")
if box := opened("Evidence: hashes and versions", key="evidence_data"):
    box.json({k: inputs[k] for k in ("data_sha256", "model_sha256", "model_format", "columns", "versions")})
