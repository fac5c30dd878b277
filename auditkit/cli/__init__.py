"""Command-line interface: every module here that defines `register(subparsers)` adds its subcommands."""
from __future__ import annotations

import argparse
import errno
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
    except OSError as e:  # an output or input path the command cannot use
        print(f"error: {_path_problem(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


_PATH_FIXES = {
    errno.EEXIST: "is a file where a folder is needed: choose another path or move the file",
    errno.ENOTDIR: "has a file where a folder is needed: choose another path or move the file",
    errno.EISDIR: "is a folder where a file is needed: name a file",
    errno.ENOSPC: "cannot be written, the disk is full: free some space and run again",
    errno.EROFS: "is on a read-only file system: choose a writable path",
    errno.EACCES: "cannot be written or read (permission denied): choose a path you may write, or fix its permissions",
}


def _path_problem(e: OSError) -> str:
    """One line naming the path, what is wrong with it and the fix."""
    fix = _PATH_FIXES.get(e.errno, f"cannot be used ({e.strerror or e})")
    path = e.filename2 or e.filename  # a rename's destination, else the path
    return f"{path} {fix}" if path else f"{e.strerror or e}: check the paths given to the command"


def split_columns(value: str | None) -> tuple[str, ...]:
    """'a,b , c' -> ('a', 'b', 'c')."""
    return tuple(c.strip() for c in value.split(",") if c.strip()) if value else ()
