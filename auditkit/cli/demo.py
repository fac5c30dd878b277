"""`demo`: build (on first use) and audit the built-in demos."""
from __future__ import annotations

import argparse
from pathlib import Path

from auditkit.cli.audit import progress_bar
from auditkit.demo import DEMOS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="audit the built-in demo (built on first use)",
                       description="Build the built-in demo datasets and models on first use (cached in the workspace), "
                                   "then audit them. Writes OUT/<demo>/audit.json.")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--which", choices=[*DEMOS, "all"], default="all", help="which demo to audit (default: all)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from auditkit.audit import write_audit
    from auditkit.demo import demo_audit
    from auditkit.service import audit_and_record

    names = list(DEMOS) if args.which == "all" else [args.which]
    for name in names:
        say = None if args.quiet else (lambda message, fraction: print(f"[{fraction:4.0%}] {message}", flush=True))
        data, model, spec = demo_audit(name, progress=say)
        result = audit_and_record(data, spec, model=model, name=f"demo: {name}", device=args.device,
                                  progress=progress_bar(args.quiet))
        print(f"wrote {write_audit(result.audit, Path(args.out) / name)} (audit {result.audit_id})")
    return 0
