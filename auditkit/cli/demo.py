"""`demo`: build (on first use) and audit the built-in demos."""
from __future__ import annotations

import argparse
from pathlib import Path

from auditkit.audit import run_audit, write_audit
from auditkit.cli.audit import progress_bar
from auditkit.demo import DEMOS, demo_audit


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
    names = list(DEMOS) if args.which == "all" else [args.which]
    for name in names:
        say = None if args.quiet else (lambda message, fraction: print(f"[{fraction:4.0%}] {message}", flush=True))
        data, model, spec = demo_audit(name, progress=say)
        audit, _ = run_audit(data, spec, model=model, device=args.device, progress=progress_bar(args.quiet))
        print(f"wrote {write_audit(audit, Path(args.out) / name)}")
    return 0
