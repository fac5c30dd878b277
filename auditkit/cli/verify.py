"""`auditkit verify`: check the sealed audit trail, the rows it vouches for and the stored artifact files."""
from __future__ import annotations

import argparse
import json

from auditkit.store import AuditStore

_SHOWN = 20  # problems listed before "... and N more"


def _verify(args: argparse.Namespace) -> int:
    store = AuditStore(args.db, create=False)
    check = store.verify_chain(head=args.head)
    startup = store.startup_check(deep=args.deep) if args.startup else None
    if args.json:
        print(json.dumps({"chain": check.to_dict(), "startup": startup.to_dict() if startup else None}, indent=2))
    elif check.ok:
        print(f"trail ok: {check.entries} entries verified; every stored audit, input, result, artifact file and "
              f"sign-off matches the entry that wrote it")
        print(f"head {check.head} (file it outside the database; `verify --head <head>` checks later that the "
              f"trail still leads to it)")
    else:
        print(f"trail BROKEN at {check.first_bad}: {check.reason}")
        for reason in check.problems[1:_SHOWN]:
            print(f"  also: {reason}")
        if len(check.problems) > _SHOWN:
            print(f"  ... and {len(check.problems) - _SHOWN} more (--json lists them all)")
    if startup is not None and not args.json:
        print(f"store check: integrity {startup.integrity}; runs marked failed {len(startup.failed_runs)}; "
              f"temp files removed {startup.temp_files_removed}; orphan blobs {len(startup.orphan_blobs)}; "
              f"missing blobs {len(startup.missing_blobs)}; damaged blobs {len(startup.damaged_blobs)}")
    return 0 if check.ok and (startup is None or startup.ok) else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `verify`."""
    p = subparsers.add_parser(
        "verify", help="Check the sealed audit trail and everything it vouches for; exit 1 and say what changed.",
        description="Check every trail entry's number, link and seal (HMAC-SHA256 under the trail key), then every "
                    "stored audit, input, result, artifact (and its file) and sign-off against the entry that wrote "
                    "it. Exit 0 when intact; 1 when anything was inserted, changed or deleted outside AuditKit "
                    "(each change is named: table, audit, row); 2 when the store cannot be read or its key is "
                    "missing.")
    p.add_argument("--db", metavar="URL", default=None,
                   help="SQLAlchemy URL of the store (default: $AUDITKIT_DB_URL, else $AUDITKIT_HOME/auditkit.db).")
    p.add_argument("--head", "--anchor", dest="head", metavar="HASH", default=None,
                   help="A head printed by an earlier verify and filed outside the database; fail if the trail no "
                        "longer leads to it (newer entries were deleted with the rows they wrote).")
    p.add_argument("--startup", action="store_true",
                   help="Also run the start-up check: database integrity, half-finished runs (marked failed), "
                        "stale temp files, orphan/missing blobs.")
    p.add_argument("--deep", action="store_true",
                   help="With --startup, the start-up report re-hashes every stored blob too (plain verify already "
                        "checks every artifact file the trail recorded).")
    p.add_argument("--json", action="store_true", help="Print the result as JSON.")
    p.set_defaults(func=_verify)
