"""Typed privacy results: membership-inference attacks, the re-checked DP record and audit.json's `privacy` section.

Plain data only (no torch), so the report reads a stored section back (`PrivacyReport.from_dict`) without loading
the model libraries. `auditkit.privacy.section` builds them from an audit.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from auditkit.outcome import Skipped, outcome_of
from auditkit.privacy.kanonymity import KAnonymityResult
from auditkit.privacy.pii import PIIFinding, PIIScanResult
from auditkit.worker.codec import transferable

MEMBERS = "rows with split=train"
NONMEMBERS = "rows with split=test"


@transferable
@dataclass(frozen=True)
class AttackResult:
    """One attack's success at telling members from non-members."""

    attack: str
    auc: float
    advantage: float
    tpr_at_1pct_fpr: float
    tpr_at_01pct_fpr: float
    epsilon_lower_bound: float
    roc_fpr: tuple[float, ...]
    roc_tpr: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["roc_fpr"], d["roc_tpr"] = list(self.roc_fpr), list(self.roc_tpr)
        return d


@transferable
@dataclass(frozen=True)
class GroupAttackResult:
    """An attack's success restricted to one group of a sensitive column."""

    column: str
    group: str
    attack: str
    n_members: int
    n_nonmembers: int
    auc: float
    advantage: float
    epsilon_lower_bound: float


@transferable
@dataclass(frozen=True)
class MIAResult:
    """Membership-inference audit. `auc`, `advantage` and `epsilon_lower_bound` are the worst case over attacks."""

    attacks: tuple[AttackResult, ...]
    groups: tuple[GroupAttackResult, ...]
    n_members: int
    n_nonmembers: int
    confidence: float
    delta: float
    notes: tuple[str, ...] = ()

    @property
    def auc(self) -> float:
        return max(a.auc for a in self.attacks)

    @property
    def advantage(self) -> float:
        return max(a.advantage for a in self.attacks)

    @property
    def epsilon_lower_bound(self) -> float:
        return max(a.epsilon_lower_bound for a in self.attacks)

    @property
    def strongest(self) -> AttackResult:
        """The attack with the highest AUC."""
        return max(self.attacks, key=lambda a: a.auc)

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc": self.auc, "advantage": self.advantage, "epsilon_lower_bound": self.epsilon_lower_bound,
            "confidence": self.confidence, "delta": self.delta,
            "n_members": self.n_members, "n_nonmembers": self.n_nonmembers,
            "attacks": [a.to_dict() for a in self.attacks],
            "groups": [asdict(g) for g in self.groups],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class MembershipAudit:
    """The audit's membership inference: split=train rows attacked as members, split=test rows as non-members.

    `outputs` says what the attacks read (the model's logits or the audit's cached predictions); `sampled` is true
    when the rows of a split were capped to a seeded sample.
    """

    result: MIAResult
    model_kind: str
    outputs: str
    sampled: bool

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict() | {"members": MEMBERS, "nonmembers": NONMEMBERS, "model_kind": self.model_kind,
                                        "outputs": self.outputs, "sampled": self.sampled}


@dataclass(frozen=True)
class DPSummary:
    """A DP training record re-checked: epsilon recomputed from (sigma, q, steps, delta) under each accountant.

    Values are the record's own (a JSON number stays as written). `matches_audited_model` is None when either
    hash is unknown.
    """

    epsilon: float
    delta: float
    accountant: str
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps: int
    epochs: int
    sampling: str
    epsilon_recomputed: dict[str, float]
    record_consistent: bool
    matches_audited_model: bool | None
    accuracy: float | None
    baseline_accuracy: float | None
    epsilon_curve: tuple[dict[str, float], ...]
    not_covered: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        return out | {"epsilon_recomputed": dict(self.epsilon_recomputed), "epsilon_curve": list(self.epsilon_curve),
                      "not_covered": list(self.not_covered)}


@dataclass(frozen=True)
class PrivacyReport:
    """audit.json's `privacy` section: personal data found, k-anonymity over the quasi-identifiers (None without
    any), membership inference (or why it was skipped) and the DP record (None when none is attached).

    `to_dict()` also repeats the headline numbers at the top level, where policies read them.
    """

    pii: PIIScanResult
    k_anonymity: KAnonymityResult | None
    membership_inference: MembershipAudit | Skipped
    dp: DPSummary | None

    @property
    def attack(self) -> MIAResult | None:
        """The membership-inference result, or None when it was skipped."""
        mia = self.membership_inference
        return mia.result if isinstance(mia, MembershipAudit) else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"pii": self.pii.to_dict()}
        if self.k_anonymity is not None:
            out["k_anonymity"] = self.k_anonymity.to_dict()
        attack = self.attack
        out |= {"membership_inference": self.membership_inference.to_dict(),
                "membership_inference_auc": None if attack is None else attack.auc,
                "membership_inference_advantage": None if attack is None else attack.advantage,
                "empirical_epsilon_lower_bound": None if attack is None else attack.epsilon_lower_bound}
        if self.dp is not None:
            out |= {"dp": self.dp.to_dict(), "epsilon": self.dp.epsilon, "delta": self.dp.delta}
        return out

    @classmethod
    def from_dict(cls, section: dict[str, Any]) -> "PrivacyReport":
        """The report a `to_dict()` section describes (KeyError or TypeError when it is not one)."""
        pii = section["pii"]
        kanon = section.get("k_anonymity")
        mia = section["membership_inference"]
        skipped = outcome_of(mia)
        return cls(
            pii=PIIScanResult(tuple(PIIFinding(**(f | {"examples": tuple(f["examples"])})) for f in pii["findings"]),
                              pii["n_rows"], pii["columns_scanned"]),
            k_anonymity=None if kanon is None else KAnonymityResult(
                tuple(kanon["quasi_identifiers"]), kanon["k"], kanon["threshold"], kanon["n_rows"],
                kanon["n_classes"], kanon["classes_below"], kanon["rows_below"]),
            membership_inference=skipped if isinstance(skipped, Skipped) else MembershipAudit(
                _mia_result(mia), mia["model_kind"], mia["outputs"], mia["sampled"]),
            dp=None if section.get("dp") is None else DPSummary(**(section["dp"] | {
                "epsilon_curve": tuple(section["dp"]["epsilon_curve"]),
                "not_covered": tuple(section["dp"]["not_covered"])})),
        )


def _mia_result(d: dict[str, Any]) -> MIAResult:
    attacks = tuple(AttackResult(**(a | {"roc_fpr": tuple(a["roc_fpr"]), "roc_tpr": tuple(a["roc_tpr"])}))
                    for a in d["attacks"])
    return MIAResult(attacks, tuple(GroupAttackResult(**g) for g in d["groups"]), d["n_members"], d["n_nonmembers"],
                     d["confidence"], d["delta"], tuple(d["notes"]))
