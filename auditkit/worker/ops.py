"""Functions the worker may run on the model it holds: registered by name with `worker_op`."""
from __future__ import annotations

import importlib
from typing import Any, Callable, TypeVar

from auditkit.errors import AuditkitError

F = TypeVar("F", bound=Callable[..., Any])
_OPS: dict[str, Callable[..., Any]] = {}


def op_name(fn: Callable[..., Any]) -> str:
    """The name a function is registered and sent under: `module:qualname`."""
    return f"{fn.__module__}:{fn.__qualname__}"


def worker_op(fn: F) -> F:
    """Register `fn(model, *args, **kwargs)` as runnable in the worker on its loaded model.

    Its arguments and result cross the process boundary, so they must be data (see `auditkit.worker.codec`);
    arguments that are callables (progress, stop checks) are called back in the app process.
    """
    _OPS[op_name(fn)] = fn
    return fn


def resolve(name: str) -> Callable[..., Any]:
    """The registered function called `name`, importing its module (a registered AuditKit or plug-in module)."""
    module, _, _ = name.partition(":")
    if name not in _OPS and (module == "auditkit" or module.startswith("auditkit.") or module in _plugin_modules()):
        importlib.import_module(module)
    if name not in _OPS:
        raise AuditkitError(f"'{name}' is not a registered worker operation")
    return _OPS[name]


def is_registered(fn: Callable[..., Any]) -> bool:
    """Whether `fn` was registered with `worker_op`."""
    return _OPS.get(op_name(fn)) is fn


def _plugin_modules() -> set[str]:
    from auditkit.families.registry import plugin_modules

    return set(plugin_modules())
