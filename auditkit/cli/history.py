"""`auditkit history`: list stored audits."""
from __future__ import annotations

import argparse
import json

from auditkit.store import AuditStore


def _history(args: argparse.Namespace) -> int:
    store = AuditStore(args.db, create=False)
    records = store.list(status=args.status, name_contains=args.name, data_sha256=args.data_sha256,
                         since=args.since, limit=args.limit)
    if args.json:
        print(json.dumps([r.to_dict() for r in records], indent=2))
        return 0
    if not records:
        print("no audits stored yet: run `python -m auditkit audit ...` or `python -m auditkit demo ...`")
        return 0
    print(f"{'id':32}  {'created (UTC)':19}  {'status':7}  {'data sha256':12}  name")
    for r in records:
        print(f"{r.id:32}  {r.created[:19].replace('T', ' '):19}  {r.status:7}  {(r.data_sha256 or '-')[:12]:12}  {r.name}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `history`."""
    p = subparsers.add_parser("history", help="List stored audits, newest first.",
                              description="List audits recorded in the audit store, newest first.")
    p.add_argument("--db", metavar="URL", default=None,
                   help="SQLAlchemy URL of the store (default: $AUDITKIT_DB_URL, else $AUDITKIT_HOME/auditkit.db).")
    p.add_argument("--status", choices=("pending", "done", "failed"), help="Only audits with this status.")
    p.add_argument("--name", metavar="TEXT", help="Only audits whose name contains TEXT.")
    p.add_argument("--data-sha256", metavar="HEX", help="Only audits of the dataset with this SHA-256.")
    p.add_argument("--since", metavar="ISO_DATE", help="Only audits created on or after this date (e.g. 2026-01-31).")
    p.add_argument("--limit", type=int, default=50, help="Show at most this many (default 50).")
    p.add_argument("--json", action="store_true", help="Print the records as JSON.")
    p.set_defaults(func=_history)
