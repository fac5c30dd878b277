"""The registry of model families: the built-in ones, then plug-in modules named in `$AUDITKIT_PLUGINS`."""
from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import TypeVar

from auditkit.errors import AuditkitError, ModelLoadError
from auditkit.families.base import ModelFamily

F = TypeVar("F", bound=ModelFamily)
BUILTIN = ("auditkit.families.pt2", "auditkit.families.hf_text")
_FAMILIES: dict[str, ModelFamily] = {}
_loaded = False


def register(family: F) -> F:
    """Add a family (an instance); families are tried in registration order when sniffing a checkpoint."""
    _FAMILIES[family.name] = family
    return family


def plugin_modules() -> list[str]:
    """Modules named in `$AUDITKIT_PLUGINS` (comma-separated); importing one registers its families."""
    return [m.strip() for m in os.environ.get("AUDITKIT_PLUGINS", "").split(",") if m.strip()]


def families() -> list[ModelFamily]:
    """Every registered family: the built-in ones first, then the others in registration order."""
    global _loaded
    if not _loaded:
        for module in (*BUILTIN, *plugin_modules()):
            try:
                importlib.import_module(module)
            except ImportError as e:
                raise AuditkitError(f"the plug-in module {module!r} cannot be imported ({e}). "
                                    "Fix: correct AUDITKIT_PLUGINS or install the plug-in.") from None
        _loaded = True
    return sorted(_FAMILIES.values(), key=lambda f: type(f).__module__ not in BUILTIN)


def get(name: str) -> ModelFamily:
    """The family called `name`."""
    for family in families():
        if family.name == name:
            return family
    raise AuditkitError(f"unknown model family {name!r}. Fix: choose one of {', '.join(f.name for f in families())}.")


def detect(path: Path) -> ModelFamily:
    """The family whose format `path` holds, judged from its bytes."""
    for family in families():
        if family.sniff(path):
            return family
    accepted = "; ".join(f.description for f in families())
    raise ModelLoadError(f"'{path.name}' is not a supported checkpoint. Fix: upload {accepted}.")
