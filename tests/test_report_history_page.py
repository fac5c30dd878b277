"""History page: list, filter, open and compare stored audits (AppTest)."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from auditkit.store import AuditStore

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "history.py")
OLD = {"inputs": {"data_sha256": "a" * 64}, "predictions": {"accuracy": 0.68},
       "fairness": {"sex": {"by_group": {}, "demographic_parity_difference": 0.05}}}
NEW = {"inputs": {"data_sha256": "a" * 64}, "predictions": {"accuracy": 0.74},
       "fairness": {"sex": {"by_group": {}, "demographic_parity_difference": 0.15}}}


def test_empty_history():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert "No stored audits match" in at.info[0].value


def test_list_filter_compare_and_open(workspace):
    store = AuditStore()
    old = store.record_audit(OLD, "loans v1")
    new = store.record_audit(NEW, "loans v2")
    broken = store.create_audit("<b>broken</b>")
    store.fail_audit(broken, "model refused")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    listing = at.dataframe[0].value
    assert list(listing["id"]) == [broken, new, old]
    assert list(listing["status"]) == ["failed", "done", "done"]
    assert "<b>broken</b>" in set(listing["name"])
    # compare: A = older, B = newer by default
    assert "2 policy check(s) changed state" in at.warning[0].value
    rules = next(d.value for d in at.dataframe if "changed" in d.value.columns).set_index("check")
    assert (rules.loc["accuracy", "A"], rules.loc["accuracy", "B"]) == ("fail", "pass")
    assert (rules.loc["demographic_parity_difference[sex]", "A"],
            rules.loc["demographic_parity_difference[sex]", "B"]) == ("pass", "fail")
    numbers = next(d.value for d in at.dataframe if "number" in d.value.columns).set_index("number")
    assert numbers.loc["predictions.accuracy", "A"] == 0.68 and numbers.loc["predictions.accuracy", "B"] == 0.74
    # filter
    at.selectbox[0].set_value("failed").run()
    assert list(at.dataframe[0].value["id"]) == [broken]
    at.selectbox[0].set_value("any").run()
    at.text_input[0].set_value("v1").run()
    assert list(at.dataframe[0].value["id"]) == [old]
    # open
    at.text_input[0].set_value("").run()
    at.selectbox(key="open_id").set_value(old).run()
    at.button[0].click().run()
    assert at.session_state["audit"] == OLD and at.session_state["audit_id"] == old


def test_compare_uses_the_policy_chosen_on_the_report_page(workspace):
    from auditkit.policy import parse_policy

    store = AuditStore()
    store.record_audit(OLD, "v1")
    store.record_audit(NEW, "v2")
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["report_policy"] = parse_policy("name: acc-only\nrules: {accuracy: {min: 0.7}}")
    at.run()
    assert not at.exception
    rules = next(d.value for d in at.dataframe if "changed" in d.value.columns)
    assert list(rules["check"]) == ["accuracy"]
    assert r"Policy: acc\-only" in at.caption[-1].value  # user text escaped for Markdown
