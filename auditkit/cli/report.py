"""`auditkit report`: export an audit (an audit.json file or a stored audit id) as HTML, PDF, JSON or model card."""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from auditkit.policy import load_policy
from auditkit.report import CARD_FIELDS, FORMATS, ReportError, read_card_file, render_report
from auditkit.store import AuditStore


def load_audit_file(path: Path) -> dict[str, Any]:
    """An audit.json (or a folder holding one, or a JSON report export) as a dict."""
    if path.is_dir():
        path = path / "audit.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"cannot read {path} ({exc}); pass an audit.json file or a stored audit id") from None
    except (ValueError, RecursionError) as exc:
        raise ReportError(f"{path} is not valid JSON ({exc}); pass the audit.json written by `auditkit audit`") from None
    if isinstance(doc, dict) and isinstance(doc.get("audit"), dict) and "scorecard" in doc:
        doc = doc["audit"]
    if not isinstance(doc, dict):
        raise ReportError(f"{path} does not hold an audit (expected a JSON object with 'inputs', 'predictions', ...)")
    return doc


def _overrides(args: argparse.Namespace) -> dict[str, str]:
    out: dict[str, str] = {}
    if args.card_file:
        out.update(read_card_file(args.card_file))
    for item in args.card or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ReportError(f"--card expects FIELD=TEXT (fields: {', '.join(CARD_FIELDS)}), got {item!r}")
        out[key.strip()] = value
    return out


def _write(out: Path, data: bytes) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}-", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _report(args: argparse.Namespace) -> int:
    policy = load_policy(args.policy)
    source = Path(args.audit)
    store, audit_id, signoffs, trail = None, None, (), ()
    if source.exists():
        audit = load_audit_file(source)
    elif source.suffix or len(source.parts) > 1:
        raise ReportError(f"{source} does not exist; pass an audit.json file or a stored audit id")
    else:
        store = AuditStore(args.db, create=False)
        record = store.get(args.audit)
        if record.audit is None:
            raise ReportError(f"audit {record.id} is {record.status} and has no results to report"
                              + (f" ({record.error})" if record.error else ""))
        audit, audit_id = record.audit, record.id
        signoffs = tuple(s.to_dict() for s in record.signoffs)
        trail = tuple(e.to_dict() for e in store.events(record.id))
    data = render_report(audit, args.format, policy=policy, title=args.title or "", card_overrides=_overrides(args),
                         signoffs=signoffs, trail=trail)
    out = Path(args.out)
    _write(out, data)
    if store is not None:
        sha = store.put_artifact(data, audit_id=audit_id, kind=f"report.{args.format}", name=out.name)
        store.log_event("report.exported", audit_id=audit_id, detail={"format": args.format, "sha256": sha,
                                                                       "policy": policy.name})
    print(f"wrote {args.format} report to {out} ({len(data):,} bytes)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `report`."""
    p = subparsers.add_parser(
        "report", help="Export an audit as a single-file HTML report, PDF, JSON or Hugging Face model card.",
        description="Export an audit as a report: scorecard and plain-language summary first, then each panel's "
                    "findings, a model card and the evidence. AUDIT is an audit.json file (or its folder) or the id "
                    "of a stored audit (see `history`); exports of stored audits are recorded in the audit trail.")
    p.add_argument("audit", metavar="AUDIT_JSON_OR_ID", help="Path of an audit.json, or a stored audit id.")
    p.add_argument("--format", choices=FORMATS, default="html", help="Output format (default html).")
    p.add_argument("--out", required=True, metavar="FILE", help="Where to write the report.")
    p.add_argument("--policy", metavar="FILE", default=None,
                   help="Policy YAML for the scorecard (default: the shipped auditkit/policy/default.yaml).")
    p.add_argument("--title", metavar="TEXT", help="Report title (default: 'Model audit: <model>').")
    p.add_argument("--card", action="append", metavar="FIELD=TEXT",
                   help=f"Set a model-card field; repeatable. Fields: {', '.join(CARD_FIELDS)}.")
    p.add_argument("--card-file", metavar="YAML", help="YAML file mapping model-card fields to text.")
    p.add_argument("--db", metavar="URL", default=None,
                   help="SQLAlchemy URL of the store (default: $AUDITKIT_DB_URL, else $AUDITKIT_HOME/auditkit.db).")
    p.set_defaults(func=_report)
