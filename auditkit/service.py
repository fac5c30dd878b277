"""One audit end to end: run it, judge it against a policy, and record it durably in the audit store."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditkit.audit import run_audit
from auditkit.checkpoints.handle import LoadedModel
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.hashing import sha256_source
from auditkit.policy import Policy, Scorecard, evaluate, load_policy
from auditkit.store import AuditStore


@dataclass(frozen=True)
class AuditRun:
    """A finished, stored audit: its audit.json (with `scorecard`), the panels' context and its store id."""

    audit: dict[str, Any]
    context: AuditContext
    audit_id: str
    scorecard: Scorecard


def _content_sha(source: str | Path | bytes | LoadedModel | None) -> str | None:
    """The content hash recorded when the run starts; None when there is nothing (yet) to hash."""
    if isinstance(source, LoadedModel):
        return source.sha256
    if isinstance(source, (str, Path)) and not Path(source).exists():
        return None
    return sha256_source(source) if source is not None else None


def audit_and_record(data: str | Path | bytes, spec: AuditSpec, *, model: str | Path | LoadedModel | None = None,
                     policy: Policy | str | Path | None = None, name: str = "", actor: str = "",
                     settings: Settings | None = None, store: AuditStore | None = None,
                     **run_options: Any) -> AuditRun:
    """Run the audit, add the scorecard for `policy` (default: the shipped policy) and store it.

    The store row is written as pending first and completed in one transaction at the end, so a run that fails
    or is killed half-way is marked failed, never left half-written. `name` names the audit in the store;
    `run_options` go to `run_audit` (`name` there is the dataset's file name, for data given as bytes).
    """
    settings = settings or Settings.from_env()
    policy = policy if isinstance(policy, Policy) else load_policy(policy)
    store = store or AuditStore(settings=settings)
    with store.recording(name, data_sha256=_content_sha(data), model_sha256=_content_sha(model), columns=spec.roles(),
                         actor=actor) as audit_id:
        audit, ctx = run_audit(data, spec, model=model, settings=settings, **run_options)
        scorecard = evaluate(audit, policy)
        audit["scorecard"] = scorecard.to_dict()
        store.complete_audit(audit_id, audit, actor=actor)
    return AuditRun(audit, ctx, audit_id, scorecard)
