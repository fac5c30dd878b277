"""The report summary names the first failing checks and counts the rest; energy estimates say so, with their
interval."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from auditkit.policy import parse_policy
from auditkit.report.content import LISTED_FAILURES, build_content
from tests.test_policy_estimates import estimated_run

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "report.py")


def failing(n: int, passing: int = 2) -> tuple[dict, str]:
    """An audit with `n` failing and `passing` passing checks of its own policy (rule mI reads custom.mI)."""
    audit = {"custom": {**{f"m{i}": 1.0 for i in range(n)}, **{f"ok{i}": 0.0 for i in range(passing)}}}
    rules = "\n".join(f"  {k}: {{max: 0.5}}" for k in audit["custom"])
    return audit, f"name: lending\nrules:\n{rules}\n"


def test_seventeen_failures_list_six_and_count_the_eleven_others():
    audit, policy = failing(17)
    summary = build_content(audit, policy=parse_policy(policy)).summary
    assert summary[0] == "The model does not meet policy 'lending': 17 of 19 checks fail, 2 pass and 0 could not be measured."
    assert LISTED_FAILURES == 6
    assert summary[1] == ("Failing: " + "; ".join(f"m{i} (custom) is 1 (allowed at most 0.5)" for i in range(6))
                          + "; and 11 more (every check is in the scorecard).")


def test_six_failures_are_all_listed_without_a_count():
    audit, policy = failing(6)
    summary = build_content(audit, policy=parse_policy(policy)).summary
    assert summary[1] == "Failing: " + "; ".join(f"m{i} (custom) is 1 (allowed at most 0.5)" for i in range(6)) + "."


def test_report_page_summary_counts_the_failures_not_listed():
    audit, policy = failing(17)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["audit"] = audit
    at.run()
    at.radio[0].set_value("Edit policy YAML").run()
    at.text_area(key="report_policy_text").set_value(policy).run()
    assert not at.exception
    assert any("17 check(s) fail" in m.value for m in at.markdown)
    texts = [t.value for t in at.text]
    assert any(t.startswith("Failing: m0 (custom) is 1") and t.endswith("; and 11 more (every check is in the scorecard).")
               for t in texts)


def test_estimated_energy_says_estimated_with_its_interval_and_an_estimate_that_fails_is_named_so():
    content = build_content({"energy": estimated_run(0.3)})
    assert content.summary[1] == ("Failing: kwh per 1k predictions is estimated between 0.075 and 1.2 "
                                  "(allowed at most 0.05).")
    assert content.summary[2] == (
        "Running the audit used an estimated 0.3 kWh, between 0.075 and 1.2 kWh (estimated from CPU time), "
        "0.3 kWh per 1,000 predictions (between 0.075 and 1.2), about 111 g CO2e in region USA.")
    energy = next(s for s in content.sections if s.key == "energy")
    assert ("method", "estimated from CPU time") in energy.tables[0].rows
    assert ("kWh per 1,000 predictions, between", "0.075 and 1.2") in energy.tables[0].rows
    assert "270,000 CPU-seconds x 4 W per CPU-second" in energy.paragraphs[1]


def test_required_estimate_that_cannot_decide_is_named_so():
    policy = parse_policy("rules: {kwh_per_1k_predictions: {max: 0.05, required: true}}")
    content = build_content({"energy": estimated_run(0.02)}, policy=policy)
    assert content.summary[1] == ("Failing: kwh per 1k predictions is estimated between 0.005 and 0.08 (allowed at "
                                  "most 0.05), too uncertain to decide a check the policy requires.")
