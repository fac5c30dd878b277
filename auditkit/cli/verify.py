"""`auditkit verify`: check the audit trail's hash chain and the rows it vouches for."""
from __future__ import annotations

import argparse
import json

from auditkit.store import AuditStore


def _verify(args: argparse.Namespace) -> int:
    store = AuditStore(args.db, create=False)
    check = store.verify_chain(anchor=args.anchor)
    startup = store.startup_check(deep=args.deep) if args.startup else None
    if args.json:
        print(json.dumps({"chain": check.to_dict(), "startup": startup.to_dict() if startup else None}, indent=2))
    elif check.ok:
        print(f"trail ok: {check.entries} entries verified, every stored audit and sign-off matches its entry")
        print(f"head {check.head} (keep it outside the database; `verify --anchor` checks it is still there)")
    else:
        print(f"trail BROKEN at {check.first_bad}: {check.reason}")
    if startup is not None and not args.json:
        print(f"store check: integrity {startup.integrity}; runs marked failed {len(startup.failed_runs)}; "
              f"temp files removed {startup.temp_files_removed}; orphan blobs {len(startup.orphan_blobs)}; "
              f"missing blobs {len(startup.missing_blobs)}; damaged blobs {len(startup.damaged_blobs)}")
    return 0 if check.ok and (startup is None or startup.ok) else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `verify`."""
    p = subparsers.add_parser(
        "verify", help="Check the audit trail's hash chain; exit 1 and name the first altered entry if broken.",
        description="Recompute the hash of every trail entry and its link to the previous one, and check stored "
                    "audits, results and sign-offs against the entries that recorded them. Exit 0 when intact, "
                    "1 when anything was altered (the first altered entry is named).")
    p.add_argument("--db", metavar="URL", default=None,
                   help="SQLAlchemy URL of the store (default: $AUDITKIT_DB_URL, else $AUDITKIT_HOME/auditkit.db).")
    p.add_argument("--anchor", metavar="HASH", default=None,
                   help="An entry hash recorded earlier (the 'head' a previous verify printed); fail if the trail no "
                        "longer contains it, i.e. newer entries were deleted or the trail was rebuilt.")
    p.add_argument("--startup", action="store_true",
                   help="Also run the start-up check: database integrity, half-finished runs (marked failed), "
                        "stale temp files, orphan/missing blobs.")
    p.add_argument("--deep", action="store_true", help="With --startup, re-hash every stored artifact.")
    p.add_argument("--json", action="store_true", help="Print the result as JSON.")
    p.set_defaults(func=_verify)
