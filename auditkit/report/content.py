"""What a report says, independent of its format: summary, scorecard, panel findings, model card, evidence.

HTML and PDF renderers both draw from `ReportContent`, so the two never disagree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from auditkit.outcome import ERROR, SKIPPED, Failed, Skipped, outcome_of
from auditkit.policy import Policy, RuleResult, Scorecard, evaluate, load_policy
from auditkit.privacy.results import PrivacyReport
from auditkit.report.errors import ReportError
from auditkit.report.model_card import model_card_fields, privacy_numbers

PANELS = ("predictions", "fairness", "explanations", "privacy", "energy")
_EVIDENCE_KEYS = ("data_file", "data_sha256", "model_sha256", "model_format", "model_kind", "rows", "created",
                  "schema_version")


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    caption: str = ""


@dataclass(frozen=True)
class Bars:
    """A horizontal bar chart: one bar per label; `reference` draws a dashed line (e.g. a policy bound)."""

    title: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    reference: float | None = None
    reference_label: str = ""


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    paragraphs: tuple[str, ...] = ()
    tables: tuple[Table, ...] = ()
    charts: tuple[Bars, ...] = ()


@dataclass(frozen=True)
class ReportContent:
    title: str
    generated: str
    summary: tuple[str, ...]
    scorecard: Scorecard
    sections: tuple[Section, ...]
    model_card: dict[str, str]
    evidence: Section
    signoffs: tuple[dict[str, Any], ...] = ()
    trail: tuple[dict[str, Any], ...] = field(default=())


def build_content(audit: dict[str, Any], *, policy: Policy | None = None, title: str = "",
                  card_overrides: dict[str, str] | None = None, signoffs: tuple[dict[str, Any], ...] = (),
                  trail: tuple[dict[str, Any], ...] = ()) -> ReportContent:
    """Everything a report shows, from an audit.json dict (any section may be missing)."""
    if not isinstance(audit, dict):
        raise ReportError(f"an audit must be the audit.json object, got {type(audit).__name__}")
    card = evaluate(audit, policy or load_policy(None))
    inputs = _dict(audit.get("inputs"))
    fields = model_card_fields(audit, scorecard=card, overrides=card_overrides)
    sections = []
    for key in PANELS:
        if key in audit:
            sections.append(_SECTION_BUILDERS[key](_dict(audit[key])))
    for key, value in audit.items():
        if key not in PANELS and key != "inputs" and isinstance(value, dict):
            sections.append(_generic_section(key, key.replace("_", " ").capitalize(), value))
    return ReportContent(
        title=title or f"Model audit: {fields['model_name']}",
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        summary=tuple(summary_sentences(audit, card)),
        scorecard=card,
        sections=tuple(sections),
        model_card=fields,
        evidence=_evidence(audit, inputs),
        signoffs=tuple(signoffs),
        trail=tuple(trail),
    )


# ---------------------------------------------------------------------------------------------- helpers
def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fmt(value: Any, digits: int = 4) -> str:
    """A number for people: 4 significant digits, thousands separators for integers, '—' when missing."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "undefined"
        return f"{value:,.0f}" if abs(value) >= 1e4 or (value.is_integer() and abs(value) >= 1000) \
            else f"{value:.{digits}g}"
    if isinstance(value, (list, tuple)):
        if len(value) <= 4 and all(is_number(v) or v is None for v in value):
            return "[" + ", ".join(fmt(v, digits) for v in value) + "]"
        return f"[{len(value):,} values]"
    text = str(value)
    return text if len(text) <= 500 else text[:499] + "…"


def pct(value: Any) -> str:
    return f"{100 * value:.1f}%" if is_number(value) else "—"


def humanize(rule_name: str) -> str:
    """`demographic_parity_difference[sex]` -> `demographic parity difference (sex)`."""
    base, _, label = rule_name.partition("[")
    text = base.replace("_", " ")
    return f"{text} ({label[:-1]})" if label else text


def flatten(value: Any, prefix: str = "", *, limit: int = 200) -> list[tuple[str, str]]:
    """(dotted path, formatted value) for every scalar leaf, at most `limit` rows."""
    out: list[tuple[str, str]] = []

    def walk(v: Any, path: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(v, dict):
            for k, child in v.items():
                walk(child, f"{path}.{k}" if path else str(k))
        elif isinstance(v, list) and not all(is_number(x) or x is None for x in v):
            for i, child in enumerate(v[:20]):
                walk(child, f"{path}[{i}]")
        else:
            out.append((path, fmt(v)))

    walk(value, prefix)
    return out


# ---------------------------------------------------------------------------------------------- summary
def summary_sentences(audit: dict[str, Any], card: Scorecard) -> list[str]:
    """A plain-language summary: the verdict first, then one sentence per panel."""
    n_fail, n_pass, n_nm = card.count("fail"), card.count("pass"), card.count("not_measured")
    if n_fail:
        out = [f"The model does not meet policy '{card.policy}': {n_fail} of {len(card.results)} checks fail, "
               f"{n_pass} pass and {n_nm} could not be measured."]
        worst = [r for r in card.results if r.status == "fail"][:6]
        out.append("Failing: " + "; ".join(_failure(r) for r in worst) + ".")
    else:
        out = [f"The model meets policy '{card.policy}': all {n_pass} measured checks pass"
               + (f" ({n_nm} could not be measured, so they are not evidence either way)." if n_nm else ".")]
    pred = _dict(audit.get("predictions"))
    if is_number(pred.get("accuracy")):
        rows = pred.get("rows")
        out.append(f"On {fmt(rows) if is_number(rows) else 'the audited'} rows the model's prediction is right "
                   f"{pct(pred['accuracy'])} of the time and positive for {pct(pred.get('positive_rate'))} of rows.")
    for name, grouping in _groupings(_dict(audit.get("fairness"))):
        ff = _dict(grouping.get("four_fifths_rule"))
        if isinstance(ff.get("sentence"), str) and ff["sentence"]:
            out.append(ff["sentence"])
        elif is_number(grouping.get("demographic_parity_ratio")):
            ratio = grouping["demographic_parity_ratio"]
            verdict = "meets" if ratio >= 0.8 else "is below"
            out.append(f"For {name}, the least-selected group is selected at {ratio:.2f}x the rate of the "
                       f"most-selected group, which {verdict} the four-fifths rule.")
    expl = _dict(audit.get("explanations"))
    imp = _dict(expl.get("global_importance"))
    ranked = [k for k, v in sorted(((k, v) for k, v in imp.items() if is_number(v)), key=lambda kv: -abs(kv[1]))]
    if ranked:
        out.append("The features that weigh most on the model's decisions are " + ", ".join(ranked[:3]) + ".")
        sensitive = set(_dict(_dict(audit.get("inputs")).get("columns")).get("sensitive") or [])
        leaked = [k for k in ranked[:5] if k in sensitive]
        if leaked:
            out.append(f"Sensitive attribute(s) {', '.join(leaked)} directly influence the decisions.")
    priv = _dict(audit.get("privacy"))
    measured = privacy_numbers(audit)
    eps, auc = measured.get("epsilon"), measured.get("membership_inference_auc")
    if eps is not None:
        out.append(f"The model was trained with differential privacy at epsilon = {fmt(eps, 3)} "
                   f"(smaller means stronger protection of the people in the training data).")
    elif priv:
        out.append("No differential-privacy guarantee was recorded for this model.")
    if auc is not None:
        out.append(f"A membership-inference attack separated training rows from unseen rows with AUC {auc:.3f} "
                   f"(0.5 means it learned nothing; higher means the model leaks who was in its training data).")
    energy = _dict(audit.get("energy"))
    if is_number(energy.get("kwh")):
        co2 = energy.get("co2e_kg")
        out.append(f"Running the audit used {fmt(energy['kwh'], 3)} kWh"
                   + (f" ({fmt(energy['kwh_per_1k_predictions'], 3)} kWh per 1,000 predictions)"
                      if is_number(energy.get("kwh_per_1k_predictions")) else "")
                   + (f", about {fmt(co2 * 1000, 3)} g CO2e" if is_number(co2) else "")
                   + (f" in region {energy['region']}" if energy.get("region") else "") + ".")
    return out


def _failure(r: RuleResult) -> str:
    if r.value is None:
        return f"{humanize(r.name)} was not measured but the policy requires it"
    above = r.max is not None and r.value > r.max
    return f"{humanize(r.name)} is {fmt(r.value)} (allowed {'at most ' + fmt(r.max) if above else 'at least ' + fmt(r.min)})"


def _groupings(fairness: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(k, v) for k, v in fairness.items() if isinstance(v, dict) and isinstance(v.get("by_group"), dict)]


# ---------------------------------------------------------------------------------------------- sections
def _outcome_paragraphs(section: dict[str, Any]) -> tuple[str, ...]:
    """Why a section holds no result: it was skipped (not computed) or failed (could not run)."""
    outcome = outcome_of(section)
    if isinstance(outcome, Failed):
        return (f"This panel could not run: {outcome.message}",)
    if isinstance(outcome, Skipped):
        return (f"Not computed: {outcome.reason}",)
    return ()


def _entries(section: dict[str, Any]) -> dict[str, Any]:
    """The section without its skipped or failed marker."""
    return {k: v for k, v in section.items() if k not in (SKIPPED, ERROR)}


def _predictions_section(pred: dict[str, Any]) -> Section:
    keys = ("rows", "accuracy", "positive_rate", "label_positive_rate", "source", "device", "batch_size", "seconds",
            "rows_per_second", "cached")
    rows = tuple((k.replace("_", " "), fmt(pred[k])) for k in keys if k in pred)
    counts = _dict(pred.get("predicted_class_counts"))
    tables = [Table(("measure", "value"), rows)]
    charts = []
    if counts and all(is_number(v) for v in counts.values()):
        tables.append(Table(("predicted class", "rows"), tuple((str(k), fmt(v)) for k, v in counts.items())))
        charts.append(Bars("Predicted class counts", tuple(map(str, counts)), tuple(float(v) for v in counts.values())))
    return Section("predictions", "Predictions", _outcome_paragraphs(pred), tuple(tables), tuple(charts))


_GROUP_COLS = ("count", "selection_rate", "accuracy", "precision", "recall", "false_positive_rate",
               "false_negative_rate")
_DISPARITIES = ("demographic_parity_difference", "demographic_parity_ratio", "equalized_odds_difference",
                "equalized_odds_ratio", "equal_opportunity_difference")


def _fairness_section(fair: dict[str, Any]) -> Section:
    paragraphs = list(_outcome_paragraphs(fair))
    tables, charts = [], []
    for name, g in _groupings(fair):
        ff = _dict(g.get("four_fifths_rule"))
        if isinstance(ff.get("sentence"), str):
            paragraphs.append(ff["sentence"])
        for w in g.get("warnings") or []:
            paragraphs.append(f"Warning ({name}): {w}")
        by_group = _dict(g.get("by_group"))
        tables.append(Table(("group",) + tuple(c.replace("_", " ") for c in _GROUP_COLS),
                            tuple((str(k),) + tuple(fmt(_dict(v).get(c)) for c in _GROUP_COLS)
                                  for k, v in by_group.items()),
                            caption=f"Metrics per group of {name}"))
        disp = tuple((d.replace("_", " "), fmt(g[d])) for d in _DISPARITIES if d in g)
        if disp:
            tables.append(Table(("disparity", "value"), disp, caption=f"Disparities across {name}"))
        rates = [(str(k), _dict(v).get("selection_rate")) for k, v in by_group.items()]
        if rates and all(is_number(r) for _, r in rates):
            top = max(r for _, r in rates)
            charts.append(Bars(f"Selection rate by {name}", tuple(k for k, _ in rates), tuple(float(r) for _, r in rates),
                               reference=0.8 * top if top > 0 else None, reference_label="four-fifths of the highest"))
    return Section("fairness", "Fairness", tuple(paragraphs), tuple(tables), tuple(charts))


def _explanations_section(expl: dict[str, Any]) -> Section:
    paragraphs = list(_outcome_paragraphs(expl))
    meta = tuple((k.replace("_", " "), fmt(expl[k])) for k in ("method", "output", "additivity_error", "rows")
                 if expl.get(k) is not None)
    if expl.get("method"):
        paragraphs.append(f"Attributions computed with {expl['method']}"
                          + (f" in {expl['output']} units" if expl.get("output") else "") + ".")
    imp = {k: v for k, v in _dict(expl.get("global_importance")).items() if is_number(v)}
    ranked = sorted(imp.items(), key=lambda kv: -abs(kv[1]))[:15]
    tables = [Table(("measure", "value"), meta)] if meta else []
    charts = []
    if ranked:
        tables.append(Table(("feature", "mean |SHAP|"), tuple((k, fmt(v)) for k, v in ranked),
                            caption="Global importance (largest first)"))
        charts.append(Bars("Global feature importance", tuple(k for k, _ in ranked), tuple(float(v) for _, v in ranked)))
    by_group = expl.get("by_group")
    if isinstance(by_group, dict) and by_group:
        tables.append(Table(("entry", "value"), tuple(flatten(by_group, limit=60)), caption="Attributions per group"))
    return Section("explanations", "Explanations", tuple(paragraphs), tuple(tables), tuple(charts))


def _privacy_section(priv: dict[str, Any]) -> Section:
    try:
        report = PrivacyReport.from_dict(priv)
    except (KeyError, TypeError, ValueError):  # not a section AuditKit wrote: its entries as they are
        rows = tuple(flatten(_entries(priv), limit=80))
        return Section("privacy", "Privacy", _outcome_paragraphs(priv),
                       (Table(("measure", "value"), rows),) if rows else ())
    paragraphs, tables, charts = [], [], []
    dp = report.dp
    if dp is None:
        paragraphs.append("No differential-privacy record is attached to this model, so it carries no formal "
                          "guarantee.")
    else:
        if not dp.record_consistent:
            paragraphs.append("The recorded epsilon does not match the accountant's value for the recorded settings.")
        if dp.matches_audited_model is False:
            paragraphs.append("The DP record belongs to a different model file than the one audited.")
        measures = (("epsilon", dp.epsilon), ("delta", dp.delta), ("accountant", dp.accountant),
                    ("noise multiplier", dp.noise_multiplier), ("clipping norm", dp.max_grad_norm),
                    ("sample rate", dp.sample_rate), ("steps", dp.steps), ("epochs", dp.epochs),
                    ("record consistent", dp.record_consistent),
                    ("matches the audited model", dp.matches_audited_model),
                    *((f"epsilon recomputed ({a})", e) for a, e in dp.epsilon_recomputed.items()))
        tables.append(Table(("guarantee", "value"), tuple((k, fmt(v)) for k, v in measures),
                            caption="Differential-privacy guarantee, re-checked"))
    attack = report.attack
    if attack is None:
        paragraphs.append(f"Membership inference was not run: {report.membership_inference.reason}")
    else:
        best = attack.strongest
        tables.append(Table(("membership inference", "value"), (
            ("attack AUC (0.5 = chance)", fmt(attack.auc)), ("attacker advantage", fmt(attack.advantage)),
            ("empirical epsilon lower bound", fmt(attack.epsilon_lower_bound)),
            ("true-positive rate at 1% false positives", fmt(best.tpr_at_1pct_fpr)),
            ("training rows (members)", fmt(attack.n_members)), ("held-out rows (non-members)", fmt(attack.n_nonmembers)),
            ("attacks read", report.membership_inference.outputs)), caption="Membership inference (worst case)"))
        charts.append(Bars("Attack AUC", tuple(a.attack for a in attack.attacks), tuple(a.auc for a in attack.attacks),
                           reference=0.5, reference_label="chance"))
    if report.pii.findings:
        tables.append(Table(("column", "kind", "cells", "share of rows", "masked examples"), tuple(
            (f.column, f.kind, fmt(f.count), pct(f.fraction), ", ".join(f.examples)) for f in report.pii.findings),
            caption="Personal data in the dataset"))
    else:
        paragraphs.append("No e-mail addresses, card numbers, national IDs, IP addresses, phone numbers or name "
                          "columns were found in the dataset.")
    kanon = report.k_anonymity
    if kanon is not None:
        tables.append(Table(("k-anonymity", "value"), (
            ("quasi-identifiers", ", ".join(kanon.quasi_identifiers)), ("k", fmt(kanon.k)),
            ("threshold", fmt(kanon.threshold)), ("passes", fmt(kanon.passes)),
            ("rows in groups below the threshold", fmt(kanon.rows_below)),
            ("share of rows below the threshold", pct(kanon.fraction_below))),
            caption="Re-identification risk (k-anonymity)"))
    return Section("privacy", "Privacy", tuple(paragraphs), tuple(tables), tuple(charts))


def _energy_section(energy: dict[str, Any]) -> Section:
    keys = ("kwh", "kwh_interval", "co2e_kg", "co2e_kg_interval", "kwh_per_1k_predictions", "method", "region")
    rows = tuple((k.replace("_", " "), fmt(energy[k])) for k in keys if k in energy)
    phases = {k: _dict(v) for k, v in _dict(energy.get("phases")).items()}
    tables = [Table(("measure", "value"), rows)] if rows else []
    charts = []
    if phases:
        tables.append(Table(("phase", "kWh", "seconds"),
                            tuple((k, fmt(v.get("kwh")), fmt(v.get("seconds"))) for k, v in phases.items()),
                            caption="Energy per phase"))
        if all(is_number(v.get("kwh")) for v in phases.values()):
            charts.append(Bars("Energy per phase (kWh)", tuple(phases), tuple(float(v["kwh"]) for v in phases.values())))
    return Section("energy", "Energy and carbon", _outcome_paragraphs(energy), tuple(tables), tuple(charts))


def _generic_section(key: str, title: str, value: dict[str, Any]) -> Section:
    rows = tuple(flatten(_entries(value), limit=80))
    return Section(key, title, _outcome_paragraphs(value), (Table(("entry", "value"), rows),) if rows else ())


_SECTION_BUILDERS = {"predictions": _predictions_section, "fairness": _fairness_section,
                     "explanations": _explanations_section, "privacy": _privacy_section, "energy": _energy_section}


def _evidence(audit: dict[str, Any], inputs: dict[str, Any]) -> Section:
    hashes = tuple((k.replace("_", " "), fmt(inputs[k])) for k in _EVIDENCE_KEYS if k in inputs)
    tables = [Table(("input", "value"), hashes, caption="Inputs and content hashes")]
    columns = _dict(inputs.get("columns"))
    if columns:
        tables.append(Table(("role", "columns"), tuple(
            (k, ", ".join(map(str, v)) if isinstance(v, list) else fmt(v)) for k, v in columns.items()),
            caption="Column roles"))
    versions = _dict(inputs.get("versions"))
    if versions:
        tables.append(Table(("library", "version"), tuple((k, str(v)) for k, v in versions.items()),
                            caption="Library versions"))
    settings = _dict(inputs.get("settings"))
    if settings:
        tables.append(Table(("setting", "value"), tuple(flatten(settings)), caption="Settings"))
    timings = [(f"{section}.{path}", value) for section in PANELS + ("inputs",)
               for path, value in flatten(_dict(audit.get(section)))
               if path.rsplit(".", 1)[-1] in ("seconds", "rows_per_second")]
    if timings:
        tables.append(Table(("step", "value"), tuple(timings), caption="Timings (seconds)"))
    warnings = [str(w) for w in inputs.get("warnings") or []]
    return Section("evidence", "Evidence", tuple(f"Warning: {w}" for w in warnings), tuple(tables))
