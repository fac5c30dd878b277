"""The `privacy` section of audit.json: PII summary, k-anonymity, membership inference, DP record.

A DP record is attached to an audit through the spec: `AuditSpec(extra={"dp_record": <privacy.json as a dict>})`
or `extra={"dp_record_path": "path/to/privacy.json"}` (written by `python -m auditkit train-dp`). Quasi-identifiers
for k-anonymity come from `extra["quasi_identifiers"]` (a list of columns), else the sensitive columns.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from auditkit.context import AuditContext
from auditkit.errors import DataValidationError
from auditkit.privacy.accounting import ACCOUNTANTS, epsilon_spent
from auditkit.privacy.kanonymity import k_anonymity
from auditkit.privacy.membership import membership_audit, membership_audit_text
from auditkit.privacy.pii import scan_pii
from auditkit.privacy.splits import SPLIT, label_indices

MAX_MIA_ROWS = 20_000
MAX_MIA_TEXT_ROWS = 5_000
K_THRESHOLD = 5


def dp_record(ctx: AuditContext) -> dict[str, Any] | None:
    """The privacy.json attached to the audit (see module docstring), or None."""
    extra = ctx.spec.extra or {}
    if extra.get("dp_record"):
        return dict(extra["dp_record"])
    if extra.get("dp_record_path"):
        path = Path(extra["dp_record_path"])
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise DataValidationError(f"cannot read the DP record '{path.name}' ({e}). "
                                      "Fix: pass the privacy.json written by `auditkit train-dp`.") from None
    return None


def dp_summary(record: dict[str, Any], model_sha256: str | None) -> dict[str, Any]:
    """The recorded guarantee, re-checked: epsilon recomputed from (sigma, q, steps, delta) under each accountant."""
    t = record["dp_training"]
    recomputed = {acc: epsilon_spent(t["noise_multiplier"], t["sample_rate"], int(t["steps"]), delta=t["delta"],
                                     accountant=acc) for acc in ACCOUNTANTS}
    program_sha = (record.get("sha256") or {}).get("program")
    return {
        "epsilon": float(t["epsilon"]), "delta": float(t["delta"]), "accountant": t["accountant"],
        "noise_multiplier": t["noise_multiplier"], "max_grad_norm": t["max_grad_norm"],
        "sample_rate": t["sample_rate"], "steps": t["steps"], "epochs": t["epochs"], "sampling": t["sampling"],
        "epsilon_recomputed": recomputed,
        "record_consistent": bool(np.isclose(recomputed[t["accountant"]], t["epsilon"], rtol=1e-6)),
        "matches_audited_model": (program_sha == model_sha256) if program_sha and model_sha256 else None,
        "accuracy": t.get("accuracy"), "baseline_accuracy": t.get("baseline_accuracy"),
        "epsilon_curve": t.get("epsilon_curve", []),
        "not_covered": record.get("not_covered", []),
    }


def mia_section(ctx: AuditContext, *, delta: float = 0.0, seed: int = 0) -> dict[str, Any]:
    """Membership inference with split=train rows as members and split=test rows as non-members.

    Tabular models are attacked on the feature columns, text models (Hugging Face classifiers) on the text column,
    from the audit's cached predictions when present (no second inference pass); at most 20,000 (tabular) or
    5,000 (text) rows of each split are used, drawn at random with `seed`.
    """
    model = ctx.model
    if model is None:
        return {"skipped": "needs a loaded model (a predictions-only audit has no model to attack)."}
    if model.kind == "text" and (model.tokenizer is None or not ctx.spec.text_column):
        return {"skipped": "needs the text model's tokenizer and the audit's text column."}
    if SPLIT not in ctx.frame.columns:
        return {"skipped": "the data has no 'split' column marking training rows (train) and held-out rows (test)."}
    split = ctx.frame[SPLIT].astype(str).to_numpy()
    y = label_indices(ctx)
    if y is None:
        return {"skipped": "the model's class order is unknown, so per-example losses cannot be computed."}
    cap = MAX_MIA_TEXT_ROWS if model.kind == "text" else MAX_MIA_ROWS
    rng = np.random.default_rng(seed)
    idx = {s: np.flatnonzero(split == s) for s in ("train", "test")}
    idx = {s: np.sort(rng.choice(i, cap, replace=False)) if len(i) > cap else i for s, i in idx.items()}
    if len(idx["train"]) < 10 or len(idx["test"]) < 10:
        return {"skipped": "needs at least 10 rows with split=train and 10 with split=test."}
    order = np.r_[idx["train"], idx["test"]]
    sensitive = ctx.sensitive_features.iloc[order].reset_index(drop=True) if ctx.spec.sensitive else None
    options = dict(sensitive=sensitive, delta=delta, seed=seed)
    outputs = "model logits"
    if model.kind == "text":
        texts = np.asarray(ctx.texts(), dtype=object)
        probabilities = None
        if ctx.predictions is not None and ctx.predictions.n == len(ctx.frame):
            probabilities, outputs = ctx.predictions.probabilities[order], "the audit's predictions"
        result = membership_audit_text(model.module, model.tokenizer, list(texts[idx["train"]]), y[idx["train"]],
                                       list(texts[idx["test"]]), y[idx["test"]], max_length=model.max_length,
                                       probabilities=probabilities, **options)
    else:
        X = ctx.features()
        result = membership_audit(model.module, X[idx["train"]], y[idx["train"]], X[idx["test"]], y[idx["test"]],
                                  **options)
    return result.to_dict() | {"members": "rows with split=train", "nonmembers": "rows with split=test",
                               "model_kind": model.kind, "outputs": outputs,
                               "sampled": bool(len(order) < (split == "train").sum() + (split == "test").sum())}


def build_section(ctx: AuditContext) -> dict[str, Any]:
    """PII summary and k-anonymity always; membership inference when possible; the DP record when attached."""
    extra = ctx.spec.extra or {}
    data_columns = [c for c in ctx.frame.columns if c != SPLIT]
    section: dict[str, Any] = {"pii": scan_pii(ctx.frame[data_columns]).to_dict()}
    qi = list(extra.get("quasi_identifiers") or ctx.spec.sensitive)
    if qi:
        section["k_anonymity"] = k_anonymity(ctx.frame, qi, threshold=int(extra.get("k_threshold", K_THRESHOLD))
                                             ).to_dict()
    record = dp_record(ctx)
    dp = dp_summary(record, ctx.model.sha256 if ctx.model else None) if record else None
    mia = mia_section(ctx, delta=dp["delta"] if dp else 0.0)
    section["membership_inference"] = mia
    section["membership_inference_auc"] = mia.get("auc")
    section["membership_inference_advantage"] = mia.get("advantage")
    section["empirical_epsilon_lower_bound"] = mia.get("epsilon_lower_bound")
    if dp:
        section["dp"] = dp
        section["epsilon"] = dp["epsilon"]
        section["delta"] = dp["delta"]
    return section
