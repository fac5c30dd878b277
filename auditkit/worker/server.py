"""The worker's side of the pipe: contain the process, load the model through its family, serve operations.

Started by `client.ModelWorker` as `python -m auditkit.worker`. Messages on stdin/stdout use `codec`; anything
the model or a library prints goes to stderr (a log file in the scratch folder).
"""
from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any, BinaryIO, Callable

from auditkit.worker import codec, sandbox

MAX_REQUEST = 1 << 40


def main() -> int:
    """Serve one model until stdin closes."""
    codec.import_types_from("auditkit")  # a request may carry a record type of a module not imported here yet
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints must not corrupt the protocol
    start = codec.read_message(inp, max_bytes=MAX_REQUEST)
    scratch = Path(start["scratch"])  # also where large arrays are shared with the app (`codec` spill files)
    limits = sandbox.Limits(**start["limits"])
    protections = sandbox.apply(scratch, [Path(p) for p in start["readable"]], limits)
    try:
        model = _load(start)
    except Exception as e:  # every failure goes back as a message; the app decides how to show it
        codec.write_message(out, _error(e))
        return 1
    from auditkit.families.registry import get

    codec.write_message(out, {"ready": get(start["family"]).info(model), "protections": protections.to_dict()})
    while True:
        try:
            request = codec.read_message(inp, max_bytes=MAX_REQUEST, spill=scratch)
        except EOFError:
            return 0
        _reply(out, _serve(model, request, inp, out, scratch), scratch)


def _reply(out: BinaryIO, message: dict[str, Any], spill: Path) -> None:
    try:
        codec.write_message(out, message, spill=spill)
    except codec.CodecError as e:  # encoding fails before anything is written
        codec.write_message(out, _error(e))


def _load(start: dict[str, Any]) -> Any:
    from auditkit.config import Settings
    from auditkit.families.registry import get

    settings = Settings(**{**start["settings"], "home": Path(start["settings"]["home"])})
    return get(start["family"]).load(Path(start["path"]), start["sha256"], settings, **start["options"])


def _serve(model: Any, request: dict[str, Any], inp: BinaryIO, out: BinaryIO, spill: Path) -> dict[str, Any]:
    from auditkit.worker.ops import resolve

    try:
        fn = resolve(request["op"])
        kwargs = dict(request["kwargs"])
        for name in request["callbacks"]:
            kwargs[name] = _callback(name, inp, out, spill)
        return {"result": fn(model, *request["args"], **kwargs)}
    except Exception as e:  # reported to the app with its type; the worker keeps serving
        return _error(e)


def _callback(name: str, inp: BinaryIO, out: BinaryIO, spill: Path) -> Callable[..., Any]:
    """A stand-in for the app's callable `name`: each call is sent to the app, which answers with its value."""
    def call(*args: Any) -> Any:
        codec.write_message(out, {"callback": name, "args": list(args)}, spill=spill)
        return codec.read_message(inp, max_bytes=MAX_REQUEST, spill=spill)["value"]
    return call


def _error(e: BaseException) -> dict[str, Any]:
    from auditkit.errors import AuditkitError

    if isinstance(e, AuditkitError):
        return {"error": str(e), "type": type(e).__name__}
    traceback.print_exc(file=sys.stderr)
    return {"error": f"{type(e).__name__}: {e}", "type": None}
