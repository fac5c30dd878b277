"""Report: the scorecard first, the policy it was judged by, downloads, reviewer sign-off and the audit trail."""
from __future__ import annotations

from functools import partial
from typing import Any

import pandas as pd
import streamlit as st

from auditkit.access import current_principal
from auditkit.errors import AuditkitError
from auditkit.export import XLSX_MEDIA_TYPE, safe_csv, safe_xlsx
from auditkit.hashing import params_hash
from auditkit.markup import plain
from auditkit.policy import DEFAULT_POLICY_PATH, Policy, Scorecard, evaluate, parse_policy
from auditkit.report import CARD_FIELDS, EXTENSIONS, MEDIA_TYPES, model_card_fields, summary_sentences
from auditkit.service import record_audit, sign_off
from auditkit.store import AuditStore
from dashboard.access import allowed, enforce_entry, explain_not_allowed
from dashboard.report_results import cached_policy, cached_report
from dashboard.shared import current_audit, open_store, opened, show_empty_state, show_error, show_verdict

AUDIT_ID = "audit_id"
POLICY_TEXT = "report_policy_text"
POLICY = "report_policy"
CARD_EDITS = "model_card_edits"
AUDIT_HASH = "report_audit_hash"
STATUS_LABEL = {"pass": "pass", "fail": "FAIL", "not_measured": "not measured"}


def audit_hash(audit: dict[str, Any]) -> str:
    """The audit's content hash, computed once per audit shown in this session."""
    owner, digest = st.session_state.get(AUDIT_HASH, (None, ""))
    if owner is not audit:
        digest = params_hash(audit)
        st.session_state[AUDIT_HASH] = (audit, digest)
    return digest


def choose_policy() -> Policy | None:
    """The policy picked in the page: the shipped default, an uploaded file or YAML edited here."""
    source = st.radio("Policy", ["Shipped default", "Upload a policy file", "Edit policy YAML"], horizontal=True,
                      help="A policy is a list of rules, e.g. 'demographic_parity_difference: {max: 0.1}'. "
                           "Each rule passes, fails or is not measured on this audit.")
    try:
        if source == "Upload a policy file":
            upload = st.file_uploader("Policy file (YAML)", type=["yaml", "yml"],
                                      help="Plain YAML only; tags such as !!python/object are refused.")
            if upload is None:
                st.info("Upload a policy file, or pick the shipped default.")
                return None
            return parse_policy(upload.getvalue(), source="the uploaded policy")
        if source == "Edit policy YAML":
            if POLICY_TEXT not in st.session_state:
                st.session_state[POLICY_TEXT] = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
            text = st.text_area("Policy YAML", key=POLICY_TEXT, height=260,
                                help="Edit the bounds; the scorecard updates when you click outside the box.")
            return cached_policy(text)
        return cached_policy(None)
    except AuditkitError as e:
        show_error(e)
        return None


def show_scorecard(card: Scorecard, audit: dict[str, Any]) -> None:
    failed, passed, missing = card.count("fail"), card.count("pass"), card.count("not_measured")
    show_verdict(not failed, f"Policy '{plain(card.policy)}': {failed} check(s) fail." if failed
                 else f"Policy '{plain(card.policy)}': every measured check passes.")
    cols = st.columns(3)
    cols[0].metric("Fail", failed, help="Checks whose measured value is outside the policy's bound.")
    cols[1].metric("Pass", passed, help="Checks whose measured value is within the policy's bound.")
    cols[2].metric("Not measured", missing, help="Checks with no number in this audit (panel not run, or the "
                                                 "metric is undefined for this data). They neither pass nor fail.")
    table = pd.DataFrame([{"check": r.name, "result": STATUS_LABEL[r.status], "measured": r.value,
                           "allowed": " and ".join(b for b in (f"≥ {r.min:g}" if r.min is not None else "",
                                                               f"≤ {r.max:g}" if r.max is not None else "") if b),
                           "detail": r.message} for r in card.results])
    st.dataframe(table, hide_index=True, width="stretch", key="scorecard_table",
                 height=min(36 * (len(table) + 1) + 4, 720))
    csv_col, xlsx_col, _ = st.columns([1, 1, 4])
    csv_col.download_button("Scorecard (CSV)", lambda: safe_csv(table), "scorecard.csv", mime="text/csv",
                            key="scorecard_csv", on_click="ignore",
                            help="Cells a spreadsheet would run as formulas are prefixed with an apostrophe.")
    xlsx_col.download_button("Scorecard (XLSX)", lambda: safe_xlsx(table, sheet="scorecard"), "scorecard.xlsx",
                             mime=XLSX_MEDIA_TYPE, key="scorecard_xlsx", on_click="ignore",
                             help="Numbers stay numbers; text that would run as a formula is stored as text.")
    st.subheader("Summary")
    for sentence in summary_sentences(audit, card):
        st.text(sentence)


def edit_model_card(audit: dict[str, Any], card: Scorecard) -> dict[str, str]:
    """Model-card fields, pre-filled from the audit; returns the fields the reviewer changed.

    The fields are drawn only while their expander is open; edits are kept in the session for this audit.
    """
    defaults = model_card_fields(audit, scorecard=card)
    owner, edits = st.session_state.get(CARD_EDITS, (None, {}))
    if owner is not audit:  # edits belong to the audit they were made on
        edits = {}
        st.session_state[CARD_EDITS] = (audit, edits)
        for key in CARD_FIELDS:
            st.session_state.pop(f"card_{key}", None)
    if box := opened("Model card fields (pre-filled from the audit; edit before downloading)", key="card_fields"):
        for key, heading in CARD_FIELDS.items():
            edits[key] = box.text_area(heading, value=edits.get(key, defaults[key]), key=f"card_{key}", height=80)
    return {key: value for key, value in edits.items() if value != defaults[key]}


def exported(fmt: str, key: str, audit: dict[str, Any], policy: Policy, overrides: dict[str, str],
             signoffs: tuple[dict[str, Any], ...], trail: tuple[dict[str, Any], ...], store: AuditStore | None,
             audit_id: str | None, actor: str) -> bytes:
    """A report file, rendered (and cached) when its download button is clicked; a stored audit's trail logs it
    with `actor`, the user of the page that drew the button.

    Runs without a script rerun (a rerun would replace the button's pending download before the browser fetched
    it), on a thread of Streamlit's that has no principal: so the user is passed in.
    """
    data = cached_report(key, fmt, audit, policy, overrides, signoffs, trail)
    if store is not None and audit_id:
        store.log_event("report.exported", audit_id=audit_id, actor=actor, detail={"format": fmt, "via": "dashboard"})
    return data


def show_signoff(store: AuditStore, audit_id: str) -> None:
    st.subheader("Reviewer sign-off")
    if not allowed("sign_off"):
        explain_not_allowed("sign_off", "Signing audits off")
    else:
        principal = current_principal()
        with st.form("signoff", clear_on_submit=True):
            if principal.authenticated:
                st.caption(f"Signing as {plain(principal.name)}.")
                reviewer = ""
            else:
                reviewer = st.text_input("Reviewer name", help="Recorded in the tamper-evident audit trail.")
            decision = st.radio("Decision", ["approve", "reject"], horizontal=True)
            comment = st.text_area("Comment", help="Why you approve or reject; shown in the exported report.")
            if st.form_submit_button("Record sign-off", type="primary"):
                try:
                    s = sign_off(store, audit_id, decision, comment, reviewer=reviewer)
                    st.success(f"Recorded: {plain(s.reviewer)} chose {s.decision} (trail entry #{s.event_seq}).")
                except AuditkitError as e:
                    show_error(e)
    signoffs = store.signoffs(audit_id)
    if signoffs:
        st.dataframe(pd.DataFrame([s.to_dict() for s in signoffs])[["created", "reviewer", "decision", "comment"]],
                     hide_index=True, width="stretch", key="signoff_table")


def show_trail(store: AuditStore, audit_id: str) -> None:
    st.subheader("Audit trail")
    check = store.verify_chain()
    if check.ok:
        st.success(f"The trail is intact: {check.entries} entries verified.", icon=":material/verified:")
    else:
        st.error(f"The trail was altered at {plain(check.first_bad)}: {plain(check.reason)}")
    if box := opened("Trail entries of this audit", key="trail_entries"):
        box.dataframe(pd.DataFrame([{"#": e.seq, "when (UTC)": e.created, "event": e.kind, "by": e.actor,
                                     "entry hash": e.hash} for e in store.events(audit_id)]),
                      hide_index=True, width="stretch", key="trail_table")


enforce_entry()
st.title("Report")
audit = current_audit()
if audit is None:
    show_empty_state()
    st.stop()

try:
    store, startup = open_store()
except AuditkitError as e:
    show_error(e)
    store, startup = None, None
if startup is not None and not startup.ok:
    st.warning(f"The store's start-up check found problems: integrity {plain(startup.integrity)}, missing blobs "
               f"{len(startup.missing_blobs)}, damaged blobs {len(startup.damaged_blobs)}. "
               f"Run `python -m auditkit verify --startup` for details.")

policy = choose_policy()
if policy is None:
    st.stop()
st.session_state[POLICY] = policy  # the History page compares audits under the same policy
card = evaluate(audit, policy)
st.header("Scorecard")
show_scorecard(card, audit)

audit_id = st.session_state.get(AUDIT_ID)
overrides = edit_model_card(audit, card)
signoffs: tuple[dict[str, Any], ...] = ()
trail: tuple[dict[str, Any], ...] = ()
if store is not None and audit_id:
    signoffs = tuple(s.to_dict() for s in store.signoffs(audit_id))
    # Exports are logged in the trail; leaving them out of the report keeps a download from invalidating the cache.
    trail = tuple(e.to_dict() for e in store.events(audit_id) if e.kind != "report.exported")

st.header("Download")
key = params_hash({"audit": audit_hash(audit), "policy": policy.to_dict()})
inputs = audit.get("inputs") if isinstance(audit.get("inputs"), dict) else {}
stem = f"audit-{str(inputs.get('data_sha256') or key)[:12]}"
cols = st.columns(4)
for col, (fmt, label) in zip(cols, [("html", "HTML report"), ("pdf", "PDF report"), ("json", "JSON"),
                                     ("modelcard", "Model card (README.md)")]):
    # A visit neither renders nor sends the four files: each is made when its button is clicked.
    data = partial(exported, fmt, key, audit, policy, overrides, signoffs, trail, store, audit_id,
                   current_principal().name)
    col.download_button(label, data=data, file_name="README.md" if fmt == "modelcard" else stem + EXTENSIONS[fmt],
                        mime=MEDIA_TYPES[fmt], key=f"download_{fmt}", width="stretch", on_click="ignore")

if store is None:
    st.stop()
if not audit_id:
    st.info("This audit is not in the audit store yet. Record it to sign it off and keep it in the history.")
    if not allowed("run"):
        explain_not_allowed("run", "Recording audits")
        st.stop()
    if st.button("Record this audit in the store", type="primary"):
        try:
            st.session_state[AUDIT_ID] = record_audit(store, audit, str(inputs.get("data_file") or ""))
        except AuditkitError as e:
            show_error(e)
            st.stop()
        st.rerun()
    st.stop()
show_signoff(store, audit_id)
show_trail(store, audit_id)
