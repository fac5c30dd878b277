"""Report page: scorecard first, policy choice, downloads, recording, sign-off and the trail (AppTest)."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from auditkit.store import AuditStore

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "report.py")
HOSTILE = "<img src=x onerror=alert(1)>"
AUDIT = {
    "inputs": {"data_file": "loans.csv", "data_sha256": "a" * 64, "rows": 200,
               "columns": {"target": "approved", "sensitive": ["sex", HOSTILE]}},
    "predictions": {"accuracy": 0.75, "positive_rate": 0.4, "rows": 200},
    "fairness": {"sex": {"by_group": {"F": {"selection_rate": 0.3}, "M": {"selection_rate": 0.5}},
                         "demographic_parity_difference": 0.2, "demographic_parity_ratio": 0.6},
                 HOSTILE: {"by_group": {}, "demographic_parity_difference": 0.05}},
}


def _app(audit=AUDIT, **state) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if audit is not None:
        at.session_state["audit"] = audit
    for k, v in state.items():
        at.session_state[k] = v
    return at.run()


def _scorecard(at: AppTest):
    return next(d.value for d in at.dataframe if "check" in d.value.columns)


def test_without_audit_shows_empty_state():
    at = _app(audit=None)
    assert not at.exception
    assert "No audit yet" in at.info[0].value


def test_scorecard_first_with_values_and_verdict():
    at = _app()
    assert not at.exception
    assert at.header[0].value == "Scorecard"
    assert ":red-badge[:material/cancel: Fail]" in [m.value for m in at.markdown]
    assert any("2 check(s) fail" in m.value for m in at.markdown)
    assert not at.error  # a finding is a badge, not an error box
    df = _scorecard(at).set_index("check")
    assert df.loc["demographic_parity_difference[sex]", "result"] == "FAIL"
    assert df.loc["demographic_parity_difference[sex]", "allowed"] == "≤ 0.1"
    assert df.loc["demographic_parity_difference[sex]", "measured"] == 0.2
    assert df.loc[f"demographic_parity_difference[{HOSTILE}]", "result"] == "pass"
    assert df.loc["accuracy", "measured"] == 0.75
    assert df.loc["epsilon", "result"] == "not measured"
    assert [m.label for m in at.metric] == ["Fail", "Pass", "Not measured"]
    assert at.metric[0].value == "2"
    assert any("right 75.0% of the time" in t.value for t in at.text)
    assert "This audit is not in the audit store yet" in at.info[0].value


def test_edited_policy_changes_the_verdict():
    at = _app()
    at.radio[0].set_value("Edit policy YAML").run()
    at.text_area(key="report_policy_text").set_value("name: lenient\nrules: {accuracy: {min: 0.7}}\n").run()
    assert not at.exception
    assert any("Policy 'lenient': every measured check passes." in m.value for m in at.markdown)
    assert list(_scorecard(at)["check"]) == ["accuracy"]
    at.text_area(key="report_policy_text").set_value("rules: {accuracy: {above: 0.7}}").run()
    assert "unknown comparator" in at.error[0].value


def test_record_sign_off_and_trail(workspace):
    at = _app()
    at.button[0].click().run()  # record in the store
    assert not at.exception
    audit_id = at.session_state["audit_id"]
    store = AuditStore()
    assert store.get(audit_id).audit == AUDIT
    at.text_input[0].set_value("Rita <b>Reviewer</b>")
    at.radio[1].set_value("reject")
    at.text_area(key=next(t.key for t in at.text_area if t.label == "Comment")).set_value("parity gap too large")
    at.button[0].click().run()
    assert not at.exception
    assert r"Recorded: Rita \<b\>Reviewer\</b\> chose reject" in at.success[-2].value  # literal, not markup
    (signoff,) = store.get(audit_id).signoffs
    assert (signoff.reviewer, signoff.decision, signoff.comment) == ("Rita <b>Reviewer</b>", "reject", "parity gap too large")
    assert "The trail is intact: 3 entries verified." in at.success[-1].value
    assert not any("event" in d.value.columns for d in at.dataframe)  # entries are sent once opened
    at.session_state["trail_entries"] = True
    at.run()
    trail = next(d.value for d in at.dataframe if "event" in d.value.columns)
    assert list(trail["event"]) == ["audit.created", "audit.completed", "signoff"]


def test_empty_reviewer_is_refused(workspace):
    store = AuditStore()
    audit_id = store.record_audit(AUDIT)
    at = _app(audit_id=audit_id)
    at.button[0].click().run()
    assert not at.exception
    assert any("reviewer's name" in e.value for e in at.error)
    assert store.get(audit_id).signoffs == ()


def test_model_card_edits_survive_closing_their_fields():
    at = _app(card_fields=True)
    at.text_area(key="card_intended_use").set_value("Pre-screening only; a person decides.").run()
    at.session_state["card_fields"] = False
    at.run()
    assert not any((t.key or "").startswith("card_") for t in at.text_area)  # not drawn while closed
    _, edits = at.session_state["model_card_edits"]
    assert edits["intended_use"] == "Pre-screening only; a person decides."
    at.session_state["card_fields"] = True
    at.run()
    assert at.text_area(key="card_intended_use").value == "Pre-screening only; a person decides."
    at.session_state["audit"] = dict(AUDIT)  # another audit starts from its own defaults
    at.run()
    assert at.text_area(key="card_intended_use").value != "Pre-screening only; a person decides."
