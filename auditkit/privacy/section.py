"""The `privacy` section of audit.json (a `PrivacyReport`): PII summary, k-anonymity, membership inference, DP record.

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
from auditkit.outcome import Skipped
from auditkit.privacy.accounting import ACCOUNTANTS, epsilon_spent
from auditkit.privacy.kanonymity import k_anonymity
from auditkit.families.registry import get
from auditkit.privacy.pii import scan_pii
from auditkit.privacy.results import DPSummary, MembershipAudit, MIAResult, PrivacyReport
from auditkit.privacy.splits import SPLIT, label_indices
from auditkit.worker.ops import worker_op

K_THRESHOLD = 5
PRIVACY_KEY = ("privacy",)  # where an audit context keeps its privacy report (`AuditContext.once`)


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


def dp_summary(record: dict[str, Any], model_sha256: str | None) -> DPSummary:
    """The recorded guarantee, re-checked: epsilon recomputed from (sigma, q, steps, delta) under each accountant."""
    t = record["dp_training"]
    recomputed = {acc: epsilon_spent(t["noise_multiplier"], t["sample_rate"], int(t["steps"]), delta=t["delta"],
                                     accountant=acc) for acc in ACCOUNTANTS}
    program_sha = (record.get("sha256") or {}).get("program")
    return DPSummary(
        epsilon=float(t["epsilon"]), delta=float(t["delta"]), accountant=t["accountant"],
        noise_multiplier=t["noise_multiplier"], max_grad_norm=t["max_grad_norm"], sample_rate=t["sample_rate"],
        steps=t["steps"], epochs=t["epochs"], sampling=t["sampling"], epsilon_recomputed=recomputed,
        record_consistent=bool(np.isclose(recomputed[t["accountant"]], t["epsilon"], rtol=1e-6)),
        matches_audited_model=(program_sha == model_sha256) if program_sha and model_sha256 else None,
        accuracy=t.get("accuracy"), baseline_accuracy=t.get("baseline_accuracy"),
        epsilon_curve=tuple(t.get("epsilon_curve", [])), not_covered=tuple(record.get("not_covered", [])),
    )


def membership_inference(ctx: AuditContext, *, delta: float = 0.0, seed: int = 0) -> MembershipAudit | Skipped:
    """Membership inference with split=train rows as members and split=test rows as non-members.

    Tabular models are attacked on the feature columns, text models (Hugging Face classifiers) on the text column,
    from the audit's cached predictions when present (no second inference pass); at most 20,000 (tabular) or
    5,000 (text) rows of each split are used, drawn at random with `seed`.
    """
    model = ctx.model
    if model is None:
        return Skipped("needs a loaded model (a predictions-only audit has no model to attack).")
    if SPLIT not in ctx.frame.columns:
        return Skipped("the data has no 'split' column marking training rows (train) and held-out rows (test).")
    split = ctx.frame[SPLIT].astype(str).to_numpy()
    y = label_indices(ctx)
    if y is None:
        return Skipped("the model's class order is unknown, so per-example losses cannot be computed.")
    cap = model.family.membership_rows
    rng = np.random.default_rng(seed)
    idx = {s: np.flatnonzero(split == s) for s in ("train", "test")}
    idx = {s: np.sort(rng.choice(i, cap, replace=False)) if len(i) > cap else i for s, i in idx.items()}
    if len(idx["train"]) < 10 or len(idx["test"]) < 10:
        return Skipped("needs at least 10 rows with split=train and 10 with split=test.")
    order = np.r_[idx["train"], idx["test"]]
    sensitive = ctx.sensitive_features.iloc[order].reset_index(drop=True) if ctx.spec.sensitive else None
    options = dict(sensitive=sensitive, delta=delta, seed=seed)
    outputs = "model logits"
    if model.family.membership_from_predictions and ctx.predictions is not None and ctx.predictions.n == len(ctx.frame):
        options["probabilities"], outputs = ctx.predictions.probabilities[order], "the audit's predictions"
    try:
        inputs = {s: model.family.inputs(ctx.frame.iloc[i], ctx.spec, model.info)[0] for s, i in idx.items()}
    except DataValidationError as e:
        return Skipped(f"needs the model's inputs: {e}")
    result = model.run(membership, model.family.name, inputs["train"], y[idx["train"]], inputs["test"],
                       y[idx["test"]], **options)
    return MembershipAudit(result, model_kind=model.family.kind, outputs=outputs,
                           sampled=bool(len(order) < (split == "train").sum() + (split == "test").sum()))


def privacy_report(ctx: AuditContext) -> PrivacyReport:
    """PII summary and k-anonymity always; membership inference when possible; the DP record when attached.

    Computed once per audit context, so the Privacy panel shows the audit's own result.
    """
    return ctx.once(PRIVACY_KEY, lambda: _privacy_report(ctx))


def _privacy_report(ctx: AuditContext) -> PrivacyReport:
    extra = ctx.spec.extra or {}
    pii = scan_pii(ctx.frame[[c for c in ctx.frame.columns if c != SPLIT]])
    qi = list(extra.get("quasi_identifiers") or ctx.spec.sensitive)
    kanon = k_anonymity(ctx.frame, qi, threshold=int(extra.get("k_threshold", K_THRESHOLD))) if qi else None
    record = dp_record(ctx)
    dp = dp_summary(record, ctx.model.sha256 if ctx.model else None) if record else None
    return PrivacyReport(pii=pii, k_anonymity=kanon,
                         membership_inference=membership_inference(ctx, delta=dp.delta if dp else 0.0), dp=dp)


@worker_op
def membership(model: Any, family: str, members: Any, y_members: np.ndarray, nonmembers: Any,
               y_nonmembers: np.ndarray, **options: Any) -> MIAResult:
    """The family's membership-inference attacks on the loaded model (worker)."""
    return get(family).membership(model, members, y_members, nonmembers, y_nonmembers, **options)
