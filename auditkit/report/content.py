"""What a report says, independent of its format: summary, scorecard, panel findings, model card, evidence.

HTML and PDF renderers both draw from `ReportContent`, so the two never disagree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from auditkit.energy.section import EnergyResult
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

    def __post_init__(self) -> None:
        # values from a malformed audit: labels shown as text, a value that is not a finite number drawn as 0
        object.__setattr__(self, "labels", tuple(str(label) for label in self.labels))
        object.__setattr__(self, "values", tuple(float(v) if is_number(v) else 0.0 for v in self.values))
        if not is_number(self.reference):
            object.__setattr__(self, "reference", None)


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
    check_readable(audit)
    try:
        card = evaluate(audit, policy or load_policy(None))
        fields = model_card_fields(audit, scorecard=card, overrides=card_overrides)
    except UNREADABLE as e:
        raise ReportError(f"the audit cannot be scored or described ({type(e).__name__}: {str(e)[:200]}); "
                          "its inputs or predictions are not what AuditKit writes. Fix: report an audit.json written "
                          "by `auditkit audit`.") from None
    inputs = _dict(audit.get("inputs"))
    sections = []
    for key in PANELS:
        if key in audit:
            sections.append(_readable(key, key.capitalize(), lambda: _SECTION_BUILDERS[key](_dict(audit[key]))))
    for key, value in audit.items():
        if key not in PANELS and key != "inputs" and isinstance(value, dict):
            title = str(key).replace("_", " ").capitalize()
            sections.append(_readable(key, title, lambda: _generic_section(key, title, value)))
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


# ---------------------------------------------------------------------------------------------- unreadable input
#: What a section builder raises on values of the wrong type or shape.
UNREADABLE = (TypeError, ValueError, KeyError, AttributeError, IndexError, ArithmeticError)
MAX_DEPTH = 64


def check_readable(audit: Any) -> None:
    """`ReportError` unless `audit` is a JSON object nested at most `MAX_DEPTH` levels deep (AuditKit writes
    about ten); checked without recursion."""
    if not isinstance(audit, dict):
        raise ReportError(f"an audit must be the audit.json object, got {type(audit).__name__}")
    stack = [(audit, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ReportError(f"the audit is nested more than {MAX_DEPTH} levels deep, which no audit.json AuditKit "
                              "writes is. Fix: report an audit.json written by `auditkit audit`.")
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _readable(key: str, title: str, build: Callable[[], Section]) -> Section:
    """The section `build` makes, or a section that says this part of audit.json is not readable."""
    try:
        return build()
    except UNREADABLE as e:
        return Section(str(key), title, (f"Not readable: this section of audit.json holds values of the wrong type "
                                         f"or shape ({type(e).__name__}). It is left out of the report.",))


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
#: Failing checks named in the summary; the rest are counted ("and 11 more") and listed in the scorecard.
LISTED_FAILURES = 6


def summary_sentences(audit: dict[str, Any], card: Scorecard) -> list[str]:
    """A plain-language summary: the verdict first, then one sentence per panel."""
    n_fail, n_pass, n_nm = card.count("fail"), card.count("pass"), card.count("not_measured")
    if n_fail:
        out = [f"The model does not meet policy '{card.policy}': {n_fail} of {len(card.results)} checks fail, "
               f"{n_pass} pass and {n_nm} could not be measured."]
        failing = [r for r in card.results if r.status == "fail"]
        listed = "; ".join(_failure(r) for r in failing[:LISTED_FAILURES])
        more = len(failing) - LISTED_FAILURES
        out.append(f"Failing: {listed}" + (f"; and {more} more (every check is in the scorecard)." if more > 0 else "."))
    elif n_pass:
        out = [f"The model meets policy '{card.policy}': all {n_pass} measured checks pass"
               + (f" ({n_nm} could not be measured, so they are not evidence either way)." if n_nm else ".")]
    else:
        out = [f"No check of policy '{card.policy}' could be measured ({n_nm} not measured), so the audit is no "
               "evidence either way."]
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
    energy = EnergyResult.from_dict(_dict(audit.get("energy")))
    if energy.kwh is not None and math.isfinite(energy.kwh):
        out.append(_energy_sentence(energy))
    return out


def _energy_sentence(energy: EnergyResult) -> str:
    """What the run used; an estimate says so, with its interval."""
    per1k, per1k_range = energy.kwh_per_1k_predictions, energy.kwh_per_1k_predictions_interval
    if not energy.estimated:
        return (f"Running the audit used {fmt(energy.kwh, 3)} kWh"
                + (f" ({fmt(per1k, 3)} kWh per 1,000 predictions)" if per1k is not None else "")
                + (f", about {fmt(energy.co2e_kg * 1000, 3)} g CO2e" if energy.co2e_kg is not None else "")
                + (f" in region {energy.region}" if energy.region else "") + ".")
    return (f"Running the audit used an estimated {fmt(energy.kwh, 3)} kWh"
            + (f", between {_range(energy.kwh_interval)} kWh" if energy.kwh_interval else "")
            + f" ({energy.method_text})"
            + (f", {fmt(per1k, 3)} kWh per 1,000 predictions" if per1k is not None else "")
            + (f" (between {_range(per1k_range)})" if per1k is not None and per1k_range else "")
            + (f", about {fmt(energy.co2e_kg * 1000, 3)} g CO2e" if energy.co2e_kg is not None else "")
            + (f" in region {energy.region}" if energy.region else "") + ".")


def _range(pair: tuple[float, float] | None) -> str | None:
    return f"{fmt(pair[0], 3)} and {fmt(pair[1], 3)}" if pair else None


def _failure(r: RuleResult) -> str:
    name = humanize(r.name)
    above = r.max is not None and (r.interval[0] if r.interval else r.value or 0.0) > r.max
    allowed = f"allowed {'at most ' + fmt(r.max) if above or r.min is None else 'at least ' + fmt(r.min)}"
    if r.interval is not None:
        low, high = r.interval
        decided = above or (r.min is not None and high < r.min)
        return (f"{name} is estimated between {fmt(low)} and {fmt(high)} ({allowed})"
                + ("" if decided else ", too uncertain to decide a check the policy requires"))
    if r.value is None or (r.min is None or r.value >= r.min) and (r.max is None or r.value <= r.max):
        return f"{name} was not measured but the policy requires it"
    return f"{name} is {fmt(r.value)} ({allowed})"


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


def _energy_section(section: dict[str, Any]) -> Section:
    energy = EnergyResult.from_dict(section)
    paragraphs = list(_outcome_paragraphs(section))
    if energy.measured:
        paragraphs.append(_energy_sentence(energy))
    if energy.cpu_seconds is not None and energy.watts_per_cpu_second is not None:
        paragraphs.append(f"No hardware energy counter was readable for the CPU, so its energy is estimated from the "
                          f"audit's CPU time: {fmt(energy.cpu_seconds)} CPU-seconds x "
                          f"{fmt(energy.watts_per_cpu_second)} W per CPU-second. The interval is the method's "
                          f"uncertainty; a policy check on an estimate passes only when the whole interval does.")
    rows = tuple((label, fmt(value)) for label, value in (
        ("kWh", energy.kwh), ("kWh, between", _range(energy.kwh_interval)), ("CO2e (kg)", energy.co2e_kg),
        ("CO2e (kg), between", _range(energy.co2e_kg_interval)),
        ("kWh per 1,000 predictions", energy.kwh_per_1k_predictions),
        ("kWh per 1,000 predictions, between", _range(energy.kwh_per_1k_predictions_interval)),
        ("method", energy.method_text), ("region", energy.region or None)) if value is not None)
    tables = [Table(("measure", "value"), rows)] if rows else []
    charts = []
    if energy.phases:
        tables.append(Table(("phase", "kWh", "kWh, between", "seconds"),
                            tuple((p.name, fmt(p.kwh), _range(p.kwh_interval) or "—", fmt(p.seconds))
                                  for p in energy.phases),
                            caption="Energy per phase"))
        if all(p.kwh is not None for p in energy.phases):
            charts.append(Bars("Energy per phase (kWh)", tuple(p.name for p in energy.phases),
                               tuple(float(p.kwh) for p in energy.phases)))
    return Section("energy", "Energy and carbon", tuple(paragraphs), tuple(tables), tuple(charts))


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
