"""Command-line interface: every module here that defines `register(subparsers)` adds its subcommands."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from auditkit.config import check_environment
from auditkit.errors import AuditkitError


def build_parser() -> argparse.ArgumentParser:
    """The `python -m auditkit` parser with every discovered subcommand."""
    parser = argparse.ArgumentParser(prog="python -m auditkit", description="Audit a model for fairness, explanations, privacy and energy.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, check the environment's settings and run the command; user-fixable problems (a setting
    that does not parse among them) print one line on stderr and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        check_environment()
        return int(args.func(args) or 0)
    except AuditkitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def split_columns(value: str | None) -> tuple[str, ...]:
    """'a,b , c' -> ('a', 'b', 'c')."""
    return tuple(c.strip() for c in value.split(",") if c.strip()) if value else ()
