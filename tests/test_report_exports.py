"""Reports: HTML (offline, escaped), PDF, JSON and the Hugging Face model card, from hand-made audits."""
from __future__ import annotations

import json
import re
import zlib

import pytest
import yaml

from auditkit.policy import evaluate, load_policy, parse_policy
from auditkit.report import ReportError, build_content, huggingface_model_card, model_card_fields, render_report

HOSTILE = "<img src=x onerror=alert(1)>"


def full_audit() -> dict:
    return {
        "inputs": {"data_file": "loans.csv", "data_sha256": "a" * 64, "model_sha256": "b" * 64, "model_kind": "tabular",
                   "rows": 1000, "columns": {"target": "approved", "sensitive": ["sex", HOSTILE], "positive_label": "1"},
                   "versions": {"torch": "2.13.0", "fairlearn": "0.15.0"}, "warnings": []},
        "predictions": {"accuracy": 0.8125, "positive_rate": 0.4, "rows": 1000, "seconds": 0.25, "device": "cpu"},
        "fairness": {
            "sex": {"by_group": {"F": {"count": 400, "selection_rate": 0.3}, "M": {"count": 600, "selection_rate": 0.5}},
                    "demographic_parity_difference": 0.2, "demographic_parity_ratio": 0.6,
                    "equalized_odds_difference": 0.0375,
                    "four_fifths_rule": {"sentence": "F are selected at 0.60x the rate of M: below the four-fifths rule."}},
            HOSTILE: {"by_group": {"<b>g</b>": {"count": 10, "selection_rate": 0.1}},
                      "demographic_parity_difference": 0.0123},
        },
        "explanations": {"method": "deep", "output": "logit", "global_importance": {"income": 0.5, HOSTILE: 0.25}},
        "privacy": {"epsilon": 2.5, "delta": 1e-5, "membership_inference_auc": 0.5625},
        "energy": {"kwh": 0.002, "co2e_kg": 0.0008, "kwh_per_1k_predictions": 0.0021, "method": "rapl", "region": "USA",
                   "phases": {"inference": {"kwh": 0.0015, "seconds": 0.25}}},
    }


def pdf_text(data: bytes) -> str:
    out = b""
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            out += zlib.decompress(m.group(1))
        except zlib.error:
            continue
    return out.decode("latin-1")


def test_html_is_offline_escaped_and_shows_scorecard():
    html = render_report(full_audit(), "html").decode()
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html.lower()
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert HOSTILE not in html and "<b>g</b>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<svg" in html  # charts are inline
    # scorecard first, with the measured values and verdicts
    assert html.index('id="scorecard"') < html.index('id="fairness"') < html.index('id="model-card"') < html.index('id="evidence"')
    row = re.search(r"<tr><td>demographic_parity_difference\[sex\]</td>.*?</tr>", html).group(0)
    assert "FAIL" in row and ">0.2<" in row
    row = re.search(r"<tr><td>accuracy</td>.*?</tr>", html).group(0)
    assert "PASS" in row and ">0.8125<" in row
    assert "a" * 64 in html and "2.13.0" in html  # evidence


def test_html_handles_any_subset_of_sections():
    for audit in ({}, {"inputs": {"rows": 3}}, {"predictions": {"accuracy": 0.5}},
                  {"energy": {"kwh": None, "co2e_kg": None, "error": "no energy counter readable"}},
                  {"fairness": {"sex": {"error": "only one group"}}, "privacy": {"error": "no members marked"}}):
        html = render_report(audit, "html").decode()
        assert "Scorecard" in html and "NOT MEASURED" in html
    html = render_report({"energy": {"kwh": None, "error": "no energy counter readable"}}, "html").decode()
    assert "This panel could not run: no energy counter readable" in html


def test_summary_is_plain_language():
    content = build_content(full_audit())
    text = " ".join(content.summary)
    assert text.startswith("The model does not meet policy 'auditkit-default': 2 of 8 checks fail")
    assert "demographic parity difference (sex) is 0.2 (allowed at most 0.1)" in text
    assert "right 81.2% of the time" in text
    assert "below the four-fifths rule" in text
    assert "epsilon = 2.5" in text and "AUC 0.562" in text
    passing = build_content({"predictions": {"accuracy": 0.9}}, policy=parse_policy("rules: {accuracy: {min: 0.7}}"))
    assert passing.summary[0] == "The model meets policy '<policy>': all 1 measured checks pass."


def test_pdf_export_has_scorecard_text():
    data = render_report(full_audit(), "pdf")
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    assert "(Scorecard) Tj" in text
    assert "demographic_parity_difference[sex] = 0.2, above the maximum 0.1" in text
    assert "(0.8125) Tj" in text


def test_pdf_survives_text_outside_latin1():
    audit = {"inputs": {"data_file": "données_数据.csv"}, "fairness": {"性别": {"by_group": {"女": {"selection_rate": 0.5}},
                                                                          "demographic_parity_difference": 0.05}}}
    assert render_report(audit, "pdf").startswith(b"%PDF")


def test_json_export_round_trips():
    doc = json.loads(render_report(full_audit(), "json"))
    assert doc["audit"] == full_audit()
    assert doc["scorecard"]["counts"] == {"pass": 6, "fail": 2, "not_measured": 0}


def test_huggingface_model_card_yaml_has_the_numbers():
    audit = full_audit()
    card_text = render_report(audit, "modelcard").decode()
    assert card_text.startswith("---\n")
    meta = yaml.safe_load(card_text.split("---\n")[1])
    metrics = {(m["type"], m["name"]): m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert metrics[("accuracy", "Accuracy")] == 0.8125
    assert metrics[("demographic_parity_difference", "Demographic parity difference (sex)")] == 0.2
    assert metrics[("demographic_parity_ratio", "Demographic parity ratio (sex)")] == 0.6
    assert metrics[("demographic_parity_difference", f"Demographic parity difference ({HOSTILE})")] == 0.0123
    assert metrics[("epsilon", "Epsilon")] == 2.5
    assert metrics[("membership_inference_auc", "Membership inference auc")] == 0.5625
    assert meta["model-index"][0]["results"][0]["task"]["type"] == "tabular-classification"
    assert meta["model-index"][0]["results"][0]["dataset"]["revision"] == "a" * 64
    assert meta["co2_eq_emissions"]["emissions"] == pytest.approx(0.8)  # grams
    assert meta["co2_eq_emissions"]["geographical_location"] == "USA"
    body = card_text.split("---\n", 2)[2]
    assert "## Bias, risks and limitations" in body and "| sex | demographic parity difference | 0.2 |" in body
    assert "## Privacy" in body and "- epsilon: 2.5" in body
    assert "## Environmental impact" in body and "0.8 g CO2e" in body
    assert HOSTILE not in body  # escaped in the Markdown body


def test_model_card_fields_prefilled_and_editable():
    audit = full_audit()
    card = evaluate(audit, load_policy(None))
    fields = model_card_fields(audit, scorecard=card)
    assert "Predicts 'approved' (positive label '1')" in fields["intended_use"]
    assert "1,000 rows of loans.csv" in fields["data"] and "a" * 64 in fields["data"]
    assert "accuracy 0.8125" in fields["metrics"]
    assert "demographic_parity_ratio[sex] = 0.6, below the minimum 0.8" in fields["limitations"]
    edited = model_card_fields(audit, overrides={"contacts": "risk@bank.example", "intended_use": "Loan triage"})
    assert edited["contacts"] == "risk@bank.example" and edited["intended_use"] == "Loan triage"
    html = render_report(audit, "html", card_overrides={"contacts": "risk@bank.example"}).decode()
    assert "risk@bank.example" in html
    with pytest.raises(ReportError, match="unknown model-card field"):
        model_card_fields(audit, overrides={"owner": "x"})
    with pytest.raises(ReportError, match="unknown report format"):
        render_report(audit, "docx")


def test_text_model_card_task_and_no_energy():
    text = huggingface_model_card({"inputs": {"model_kind": "text"}, "predictions": {"accuracy": 0.9}})
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["model-index"][0]["results"][0]["task"]["type"] == "text-classification"
    assert "co2_eq_emissions" not in meta
    assert "Energy was not measured" in text


def test_signoffs_and_trail_appear_escaped():
    html = render_report(full_audit(), "html", signoffs=({"created": "t", "reviewer": "<i>Eve</i>", "decision": "reject",
                                                          "comment": "see <script>"},),
                         trail=({"seq": 1, "created": "t", "kind": "audit.created", "actor": "local", "hash": "f" * 64},)).decode()
    assert "&lt;i&gt;Eve&lt;/i&gt;" in html and "<script" not in html
    assert "f" * 64 in html


def test_required_rule_missing_is_explained_in_summary():
    policy = parse_policy("rules: {epsilon: {max: 8, required: true}}")
    content = build_content({"predictions": {"accuracy": 0.9}}, policy=policy)
    assert content.summary[1] == "Failing: epsilon was not measured but the policy requires it."


def test_long_curves_and_unknown_sections_stay_compact():
    audit = {"privacy": {"membership_inference": {"auc": 0.61, "roc": {"fpr": [i / 999 for i in range(1000)]}},
                         "pii": [{"column": "email", "count": 3}]},
             "custom_panel": {"score": 1.5, "note": "x" * 2000}}
    html = render_report(audit, "html").decode()
    assert "[1,000 values]" in html and "0.001001" not in html
    assert "privacy.membership_inference.auc" not in html  # paths are relative to the section
    assert "membership_inference.auc" in html and "pii[0].column" in html
    assert 'id="custom_panel"' in html and "x" * 499 + "…" in html and "x" * 501 not in html


def test_summary_reads_privacy_whatever_the_policy():
    audit = {"privacy": {"dp": {"epsilon": 1.5, "delta": 1e-5}, "epsilon": 1.5,
                         "membership_inference": {"auc": 0.52}, "membership_inference_auc": 0.52},
             "explanations": {"method": None, "reason": "no model: predictions only"}}
    content = build_content(audit, policy=parse_policy("rules: {accuracy: {min: 0.5}}"))
    text = " ".join(content.summary)
    assert "epsilon = 1.5" in text and "AUC 0.520" in text
    html = render_report(audit, "html").decode()
    assert "Not computed: no model: predictions only" in html and "computed with None" not in html  # stored shape


def test_privacy_section_reads_the_typed_report():
    from auditkit.outcome import Skipped
    from auditkit.privacy.kanonymity import KAnonymityResult
    from auditkit.privacy.pii import PIIFinding, PIIScanResult
    from auditkit.privacy.results import (AttackResult, DPSummary, MembershipAudit, MIAResult, PrivacyReport)

    attacks = (AttackResult("loss", 0.61, 0.2, 0.05, 0.01, 0.4, (0.0, 1.0), (0.0, 1.0)),
               AttackResult("calibrated", 0.66, 0.25, 0.08, 0.02, 0.55, (0.0, 1.0), (0.0, 1.0)))
    dp = DPSummary(2.0, 1e-5, "rdp", 1.1, 1.0, 0.01, 1000, 10, "poisson", {"rdp": 2.0, "prv": 1.9}, True, False,
                   0.8, 0.85, (), ())
    pii = PIIScanResult((PIIFinding("contact", "email", 12, 0.06, ("a***@example.com",)),), 200, 5)
    kanon = KAnonymityResult(("sex", "age"), 3, 5, 200, 20, 4, 9)
    report = PrivacyReport(pii, kanon, MembershipAudit(MIAResult(attacks, (), 150, 50, 0.95, 1e-5), "tabular",
                                                       "model logits", False), dp)
    section = next(s for s in build_content({"privacy": report.to_dict()}).sections if s.key == "privacy")
    tables = {t.caption: dict((r[0], r[1:]) for r in t.rows) for t in section.tables}
    assert tables["Membership inference (worst case)"]["attack AUC (0.5 = chance)"] == ("0.66",)
    assert tables["Membership inference (worst case)"]["true-positive rate at 1% false positives"] == ("0.08",)
    assert tables["Differential-privacy guarantee, re-checked"]["epsilon recomputed (prv)"] == ("1.9",)
    assert tables["Personal data in the dataset"]["contact"] == ("email", "12", "6.0%", "a***@example.com")
    assert tables["Re-identification risk (k-anonymity)"]["k"] == ("3",)
    assert tables["Re-identification risk (k-anonymity)"]["passes"] == ("no",)
    assert section.paragraphs == ("The DP record belongs to a different model file than the one audited.",)
    assert section.charts[0].values == (0.61, 0.66) and section.charts[0].reference == 0.5

    skipped = PrivacyReport(PIIScanResult((), 200, 5), None, Skipped("needs a split column."), None).to_dict()
    section = next(s for s in build_content({"privacy": skipped}).sections if s.key == "privacy")
    assert section.paragraphs == (
        "No differential-privacy record is attached to this model, so it carries no formal guarantee.",
        "Membership inference was not run: needs a split column.",
        "No e-mail addresses, card numbers, national IDs, IP addresses, phone numbers or name columns were found "
        "in the dataset.")
    assert not section.tables
