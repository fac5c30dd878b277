"""Model cards: the report's model-card fields (pre-filled from the audit, editable, or read from a YAML file) and
a Hugging Face README.md with YAML metadata (`model-index` results, `co2_eq_emissions`).

Every text in the README comes from the audit or a user, so it is written literally (`auditkit.markup.plain`):
a link, an image or an HTML tag typed into a field is shown as the characters typed, never rendered.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml

from auditkit.markup import plain
from auditkit.policy import KNOWN_PATHS, Scorecard
from auditkit.policy.scorecard import find
from auditkit.report.errors import ReportError
from auditkit.safe_yaml import read_yaml_file

MAX_CARD_BYTES = 200_000
#: Model-card fields in display order, with their headings.
CARD_FIELDS: dict[str, str] = {
    "model_name": "Model",
    "intended_use": "Intended use",
    "out_of_scope": "Out-of-scope uses",
    "data": "Data",
    "metrics": "Metrics",
    "limitations": "Limitations",
    "ethical_considerations": "Ethical considerations",
    "contacts": "Contacts",
}

_DISPARITY_NAMES = {
    "demographic_parity_difference": "Demographic parity difference",
    "demographic_parity_ratio": "Demographic parity ratio",
    "equalized_odds_difference": "Equalized odds difference",
    "equalized_odds_ratio": "Equalized odds ratio",
    "equal_opportunity_difference": "Equal opportunity difference",
}


def _d(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _num(value: Any) -> float | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _g(value: float) -> str:
    return f"{value:.4g}"


def read_card_file(path: str | Path) -> dict[str, str]:
    """Model-card fields from a YAML file mapping field names (`CARD_FIELDS`) to text, read by
    `auditkit.safe_yaml`; `ReportError` naming the file and the fix."""
    data = read_yaml_file(path, error=ReportError, source=f"the model-card file {path}", max_bytes=MAX_CARD_BYTES)
    if not isinstance(data, dict):
        raise ReportError(f"the model-card file {path} must map model-card fields to text, "
                          f"e.g. 'contacts: risk@example.org' (fields: {', '.join(CARD_FIELDS)})")
    return {str(k): v if isinstance(v, str) else str(v) for k, v in data.items()}


def model_card_fields(audit: dict[str, Any], *, scorecard: Scorecard | None = None,
                      overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Every field of `CARD_FIELDS`, pre-filled from the audit; `overrides` replaces any of them."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(CARD_FIELDS)
    if unknown:
        raise ReportError(f"unknown model-card field(s) {sorted(unknown)}; editable fields: {list(CARD_FIELDS)}")
    bad = [k for k, v in overrides.items() if not isinstance(v, str)]
    if bad:
        raise ReportError(f"model-card field(s) {bad} must be text")
    inputs = _d(audit.get("inputs"))
    cols = _d(inputs.get("columns"))
    target, sensitive = cols.get("target"), [str(s) for s in cols.get("sensitive") or []]
    data_file = inputs.get("data_file") or "the audited dataset"
    model_sha = inputs.get("model_sha256")
    kind = inputs.get("model_kind") or ("predictions supplied with the data" if not model_sha else "model")
    fields = {
        "model_name": f"{kind} {model_sha[:12]}" if model_sha else f"predictions in {data_file}",
        "intended_use": (f"Predicts '{target}'" if target else "Classifies records")
                        + (f" (positive label '{cols['positive_label']}')" if cols.get("positive_label") else "")
                        + ". Describe the decisions this model supports, who uses them and who is affected.",
        "out_of_scope": "Populations or data unlike the audited dataset, and use as the sole basis of decisions "
                        "about individuals, were not assessed by this audit.",
        "data": f"Audited on {inputs['rows']:,} rows of {data_file}" if isinstance(inputs.get("rows"), int)
                else f"Audited on {data_file}",
        "metrics": "; ".join(_metric_lines(audit)) or "No metrics were measured.",
        "limitations": "; ".join(_limitations(audit, scorecard)) or "No policy check failed.",
        "ethical_considerations": " ".join(_fairness_sentences(audit))
                                  or "No fairness assessment: declare sensitive attributes and audit again.",
        "contacts": "Not provided: add the model owner's and the reviewer's contacts.",
    }
    if inputs.get("data_sha256"):
        fields["data"] += f" (SHA-256 {inputs['data_sha256']})"
    fields["data"] += (f". Sensitive attributes assessed: {', '.join(sensitive)}." if sensitive
                       else ". No sensitive attributes were declared.")
    fields.update(overrides)
    return fields


def _metric_lines(audit: dict[str, Any]) -> list[str]:
    pred, energy = _d(audit.get("predictions")), _d(audit.get("energy"))
    out = []
    for key, label in (("accuracy", "accuracy"), ("positive_rate", "positive rate")):
        if _num(pred.get(key)) is not None:
            out.append(f"{label} {_g(pred[key])}")
    for name, g in _groupings(audit):
        for key in ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference"):
            if _num(g.get(key)) is not None:
                out.append(f"{key.replace('_', ' ')} ({name}) {_g(g[key])}")
    for key, value in privacy_numbers(audit).items():
        out.append(f"{key.replace('_', ' ')} {_g(value)}")
    if _num(energy.get("kwh_per_1k_predictions")) is not None:
        out.append(f"kWh per 1,000 predictions {_g(energy['kwh_per_1k_predictions'])}")
    return out


def _limitations(audit: dict[str, Any], scorecard: Scorecard | None) -> list[str]:
    out = []
    if scorecard is not None:
        out += [r.message for r in scorecard.results if r.status == "fail"]
        missing = [r.name for r in scorecard.results if r.status == "not_measured"]
        if missing:
            out.append("not measured: " + ", ".join(missing))
    out += [str(w) for w in _d(audit.get("inputs")).get("warnings") or []]
    for name, g in _groupings(audit):
        small = _d(g.get("small_groups"))
        if small:
            out.append(f"small groups in {name} (estimates uncertain): "
                       + ", ".join(f"{k} ({v})" for k, v in small.items()))
    return out


def _fairness_sentences(audit: dict[str, Any]) -> list[str]:
    return [g["four_fifths_rule"]["sentence"] for _, g in _groupings(audit)
            if isinstance(_d(g.get("four_fifths_rule")).get("sentence"), str)]


def _groupings(audit: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(k, v) for k, v in _d(audit.get("fairness")).items() if isinstance(v, dict) and "by_group" in v]


def privacy_numbers(audit: dict[str, Any]) -> dict[str, float]:
    """epsilon, delta and membership-inference AUC where the audit has them (read as the policy reads them)."""
    out = {}
    for key in ("epsilon", "delta", "membership_inference_auc"):
        for pattern in KNOWN_PATHS[key]:
            for _, _, value in find(audit, pattern):
                if _num(value) is not None and key not in out:
                    out[key] = float(value)
    return out


def huggingface_model_card(audit: dict[str, Any], *, scorecard: Scorecard | None = None,
                           overrides: dict[str, str] | None = None) -> str:
    """A Hugging Face README.md: YAML metadata (`model-index`, `co2_eq_emissions`) and the card's sections,
    with bias, privacy and environmental sections filled from the measured results."""
    fields = model_card_fields(audit, scorecard=scorecard, overrides=overrides)
    inputs, pred, energy = _d(audit.get("inputs")), _d(audit.get("predictions")), _d(audit.get("energy"))
    task = "text-classification" if inputs.get("model_kind") == "text" else "tabular-classification"
    metrics = []
    if _num(pred.get("accuracy")) is not None:
        metrics.append({"type": "accuracy", "value": float(pred["accuracy"]), "name": "Accuracy"})
    for name, g in _groupings(audit):
        for key, label in _DISPARITY_NAMES.items():
            if _num(g.get(key)) is not None:
                metrics.append({"type": key, "value": float(g[key]), "name": f"{label} ({name})"})
    for key, value in privacy_numbers(audit).items():
        metrics.append({"type": key, "value": value, "name": key.replace("_", " ").capitalize()})
    if _num(energy.get("kwh_per_1k_predictions")) is not None:
        metrics.append({"type": "kwh_per_1k_predictions", "value": float(energy["kwh_per_1k_predictions"]),
                        "name": "Energy per 1,000 predictions (kWh)"})
    dataset = {"type": str(inputs.get("data_file") or "custom"), "name": str(inputs.get("data_file") or "audit dataset")}
    if inputs.get("data_sha256"):
        dataset["revision"] = str(inputs["data_sha256"])
    meta: dict[str, Any] = {
        "tags": ["auditkit", "model-audit", "fairness"],
        "model-index": [{"name": fields["model_name"],
                         "results": [{"task": {"type": task}, "dataset": dataset, "metrics": metrics}]}],
    }
    if _num(energy.get("co2e_kg")) is not None:
        meta["co2_eq_emissions"] = {
            "emissions": float(energy["co2e_kg"]) * 1000.0,
            "source": f"AuditKit measurement of the audit run ({energy.get('method', 'unknown method')})",
            "geographical_location": str(energy.get("region") or "unknown"),
            "hardware_used": str(pred.get("device") or "unknown"),
        }
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    md = [f"---\n{front}---\n", f"# Model card: {plain(fields['model_name'])}\n"]
    for key in ("intended_use", "out_of_scope", "data", "metrics"):
        md.append(f"## {CARD_FIELDS[key]}\n\n{plain(fields[key], lines=True)}\n")
    md.append("## Bias, risks and limitations\n")
    md.append(plain(fields["ethical_considerations"], lines=True) + "\n")
    rows = [(name, key, g[key]) for name, g in _groupings(audit) for key in _DISPARITY_NAMES
            if _num(g.get(key)) is not None]
    if rows:
        md.append("| attribute | measure | value |\n|---|---|---|")
        md += [f"| {plain(n)} | {k.replace('_', ' ')} | {_g(v)} |" for n, k, v in rows]
        md.append("")
    md.append(f"Limitations: {plain(fields['limitations'], lines=True)}\n")
    md.append("## Privacy\n")
    priv = privacy_numbers(audit)
    if priv:
        md += [f"- {k.replace('_', ' ')}: {_g(v)}" for k, v in priv.items()]
        md.append("")
    else:
        md.append("No differential-privacy guarantee or membership-inference result was recorded.\n")
    md.append("## Environmental impact\n")
    if _num(energy.get("kwh")) is not None:
        md.append(f"- energy of the audit run: {_g(energy['kwh'])} kWh")
        if _num(energy.get("kwh_per_1k_predictions")) is not None:
            md.append(f"- energy per 1,000 predictions: {_g(energy['kwh_per_1k_predictions'])} kWh")
        if _num(energy.get("co2e_kg")) is not None:
            md.append(f"- emissions: {_g(energy['co2e_kg'] * 1000)} g CO2e (region {plain(energy.get('region'))})")
        md.append(f"- method: {plain(energy.get('method', 'unknown'))}\n")
    else:
        md.append("Energy was not measured for this audit.\n")
    if scorecard is not None:
        md.append(f"## Policy scorecard ({plain(scorecard.policy)})\n\n| check | status | value |\n|---|---|---|")
        md += [f"| {plain(r.name)} | {r.status.replace('_', ' ')} | {'—' if r.value is None else _g(r.value)} |"
               for r in scorecard.results]
        md.append("")
    md.append("## Audit evidence\n")
    md += [f"- {k.replace('_', ' ')}: {plain(inputs[k])}" for k in ("data_sha256", "model_sha256") if inputs.get(k)]
    md.append(f"\n## {CARD_FIELDS['contacts']}\n\n{plain(fields['contacts'], lines=True)}\n")
    return "\n".join(md)

