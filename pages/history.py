"""History: list, filter and open stored audits; compare two side by side."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from auditkit.errors import AuditkitError
from auditkit.export import XLSX_MEDIA_TYPE, safe_csv, safe_xlsx
from auditkit.markup import plain
from auditkit.policy import load_policy
from auditkit.report import compare_audits
from auditkit.store import AuditRecord
from dashboard.access import enforce_entry
from dashboard.shared import AUDIT, CONTEXT, open_store, show_error

AUDIT_ID = "audit_id"
POLICY = "report_policy"


def label(r: AuditRecord) -> str:
    return f"{r.created[:19].replace('T', ' ')} · {r.name or 'unnamed'} · {r.id[:8]}"


enforce_entry()
st.title("History")
st.caption("Every audit recorded in the audit store, newest first. Open one to see its panels and report, "
           "or compare two to see which numbers moved and which policy checks changed.")
try:
    store, _ = open_store()
except AuditkitError as e:
    show_error(e)
    st.stop()

cols = st.columns([1, 2, 1])
status = cols[0].selectbox("Status", ["any", "done", "failed", "pending"],
                           help="done: finished with results; failed: stopped with an error; pending: running.")
name = cols[1].text_input("Name contains", help="Filter by the audit's name (usually the data file name).")
limit = cols[2].number_input("Show at most", min_value=1, max_value=5000, value=200, step=50)
records = store.list(status=None if status == "any" else status, name_contains=name or None, limit=int(limit))
if not records:
    st.info("No stored audits match. Audits appear here once recorded (Report page, or `python -m auditkit audit`).")
    st.stop()

table = pd.DataFrame([{"created (UTC)": r.created[:19].replace("T", " "), "name": r.name, "status": r.status,
                       "data sha256": (r.data_sha256 or "")[:12], "model sha256": (r.model_sha256 or "")[:12],
                       "error": r.error or "", "id": r.id} for r in records])
st.dataframe(table, hide_index=True, width="stretch", key="history_table")
csv_col, xlsx_col, _ = st.columns([1, 1, 4])
csv_col.download_button("This list (CSV)", lambda: safe_csv(table), "audits.csv", mime="text/csv", key="history_csv",
                        on_click="ignore", help="Cells a spreadsheet would run as formulas (audit names are user "
                                                "text) are prefixed with an apostrophe.")
xlsx_col.download_button("This list (XLSX)", lambda: safe_xlsx(table, sheet="audits"), "audits.xlsx",
                         mime=XLSX_MEDIA_TYPE, key="history_xlsx",
                         on_click="ignore", help="Text that would run as a formula is stored as text.")

by_id = {r.id: r for r in records}
done = [r.id for r in records if r.status == "done"]

st.subheader("Open an audit")
chosen = st.selectbox("Audit", done, format_func=lambda i: label(by_id[i]), key="open_id",
                      help="Only finished audits have results to open.")
if chosen and st.button("Open in the dashboard", type="primary"):
    st.session_state[AUDIT] = store.get(chosen).audit
    st.session_state[AUDIT_ID] = chosen
    st.session_state.pop(CONTEXT, None)  # the stored audit has results only, no live data or model
    st.switch_page("pages/report.py")

st.subheader("Compare two audits")
if len(done) < 2:
    st.info("Compare needs at least two finished audits.")
    st.stop()
left, right = st.columns(2)
a_id = left.selectbox("Audit A (before)", done, index=1, format_func=lambda i: label(by_id[i]), key="compare_a")
b_id = right.selectbox("Audit B (after)", done, index=0, format_func=lambda i: label(by_id[i]), key="compare_b")
policy = st.session_state.get(POLICY) or load_policy(None)
cmp = compare_audits(store.get(a_id).audit, store.get(b_id).audit, policy)
flips = cmp.rules_changed
if flips:
    st.warning(f"{len(flips)} policy check(s) changed state between A and B.")
else:
    st.success("No policy check changed state between A and B.")
st.markdown("**Policy checks**")
st.caption(f"Policy: {plain(policy.name)} (chosen on the Report page; the shipped default otherwise)")
st.dataframe(pd.DataFrame([{"check": r.name, "A": r.status_a.replace("_", " "), "B": r.status_b.replace("_", " "),
                            "changed": "CHANGED" if r.changed else "", "value A": r.value_a, "value B": r.value_b}
                           for r in cmp.rules]),
             hide_index=True, width="stretch", key="compare_rules")
st.markdown(f"**Numbers that moved** ({len(cmp.numbers)})")
st.dataframe(pd.DataFrame([{"number": n.path, "A": n.a, "B": n.b, "change (B - A)": n.delta} for n in cmp.numbers],
                          columns=["number", "A", "B", "change (B - A)"]),
             hide_index=True, width="stretch", key="compare_numbers")
