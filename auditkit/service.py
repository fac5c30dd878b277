"""One audit end to end: run it, judge it against a policy, and record it durably in the audit store; and the
upload and sign-off entry points. Each checks the acting principal's role first (`auditkit.access`) and calls the
engine as that principal, so the engine's own checks (`store_upload`, `run_audit`, the store's writes) agree."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit.access import Principal, acting_as, current_principal, require
from auditkit.audit import run_audit
from auditkit.families.handle import ModelHandle
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.errors import AccessDenied
from auditkit.hashing import sha256_source
from auditkit.policy import Policy, Scorecard, evaluate, load_policy
from auditkit.store import AuditStore, SignOff
from auditkit.store.store import Decision
from auditkit.uploads import store_upload


@dataclass(frozen=True)
class AuditRun:
    """A finished, stored audit: its audit.json (with `scorecard`), the panels' context and its store id."""

    audit: dict[str, Any]
    context: AuditContext
    audit_id: str
    scorecard: Scorecard


def _content_sha(source: str | Path | bytes | ModelHandle | None) -> str | None:
    """The content hash recorded when the run starts; None when there is nothing (yet) to hash."""
    if isinstance(source, ModelHandle):
        return source.sha256
    if isinstance(source, (str, Path)) and not Path(source).exists():
        return None
    return sha256_source(source) if source is not None else None


def audit_and_record(data: str | Path | bytes, spec: AuditSpec, *, model: str | Path | ModelHandle | None = None,
                     policy: Policy | str | Path | None = None, name: str = "", actor: str = "",
                     settings: Settings | None = None, store: AuditStore | None = None,
                     principal: Principal | None = None, **run_options: Any) -> AuditRun:
    """Run the audit, add the scorecard for `policy` (default: the shipped policy) and store it.

    `principal` (default: `current_principal()`) must have the role to run audits, else `AccessDenied` is
    raised before anything is read or stored; it is the trail's actor unless `actor` is given. The store row
    is written as pending first and completed in one transaction at the end, so a run that fails or is killed
    half-way is marked failed, never left half-written. `name` names the audit in the store;
    `run_options` go to `run_audit` (`name` there is the dataset's file name, for data given as bytes).
    """
    principal = principal or current_principal()
    require(principal, "run")
    actor = actor or principal.name
    settings = settings or Settings.from_env()
    policy = policy if isinstance(policy, Policy) else load_policy(policy)
    store = store or AuditStore(settings=settings)
    # hashed once: the store row, the audit's caches and the model's worker share them
    data_sha, model_sha = _content_sha(data), _content_sha(model)
    with acting_as(principal), store.recording(name, data_sha256=data_sha, model_sha256=model_sha,
                                               columns=spec.roles(), actor=actor) as audit_id:
        audit, ctx = run_audit(data, spec, model=model, settings=settings, data_sha256=data_sha,
                               model_sha256=model_sha, **run_options)
        scorecard = evaluate(audit, policy)
        audit["scorecard"] = scorecard.to_dict()
        store.complete_audit(audit_id, audit, actor=actor)
    return AuditRun(audit, ctx, audit_id, scorecard)


def upload(data: bytes, name: str, *, settings: Settings | None = None, principal: Principal | None = None) -> Path:
    """Store an uploaded file in the workspace (`uploads.store_upload`); needs the role to upload."""
    principal = principal or current_principal()
    require(principal, "upload")
    with acting_as(principal):
        return store_upload(data, name, settings=settings)


def record_audit(store: AuditStore, audit: dict[str, Any], name: str = "", *,
                 principal: Principal | None = None) -> str:
    """Store a finished audit.json (e.g. one run before the store was opened); needs the role to run audits."""
    principal = principal or current_principal()
    require(principal, "run")
    with acting_as(principal):
        return store.record_audit(audit, name, actor=principal.name)


def sign_off(store: AuditStore, audit_id: str, decision: Decision, comment: str = "", *,
             principal: Principal | None = None, reviewer: str = "") -> SignOff:
    """Record `principal`'s approve/reject decision on a finished audit; needs the reviewer (or admin) role.

    A signed-in principal signs as themselves; in local mode the reviewer names themselves in `reviewer`.
    """
    principal = principal or current_principal()
    require(principal, "sign_off")
    if principal.authenticated and reviewer and reviewer.strip() != principal.name:
        raise AccessDenied(f"{principal.name} is signed in and can sign off only as themselves, "
                           f"not as {reviewer.strip()!r}")
    with acting_as(principal):
        return store.sign_off(audit_id, principal.name if principal.authenticated else reviewer, decision, comment)
