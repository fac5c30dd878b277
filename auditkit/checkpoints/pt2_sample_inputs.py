"""Check a `.pt2` archive's sample inputs without unpickling them.

`torch.export.save` stores the example inputs as a torch.save archive (a zip holding `data.pkl`, protocol 2, and
raw storages). Torch would unpickle it, retrying without the weights-only restriction when that fails, so AuditKit
never hands it to torch (the archive it loads has empty sample inputs). It is still checked, so that a planted
pickle is refused by name rather than silently dropped: the pickle is read opcode by opcode with `pickletools`
(nothing is executed) and may only rebuild plain tensors in tuples, lists and dicts.
"""
from __future__ import annotations

import io
import pickletools
import zipfile

from auditkit.checkpoints.archive import BoundedZip
from auditkit.config import Settings
from auditkit.errors import UnsafeModelError

_MAX_PICKLE = 1 << 20
_OPCODES = frozenset({"PROTO", "GLOBAL", "BINPUT", "LONG_BINPUT", "BINGET", "LONG_BINGET", "MARK", "BINUNICODE",
                      "SHORT_BINUNICODE", "BININT", "BININT1", "BININT2", "LONG1", "BINFLOAT", "NONE", "NEWTRUE",
                      "NEWFALSE", "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3", "EMPTY_LIST", "APPEND",
                      "APPENDS", "EMPTY_DICT", "SETITEM", "SETITEMS", "BINPERSID", "REDUCE", "STOP"})
_STORAGES = ("Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool")
_GLOBALS = frozenset({"torch._utils _rebuild_tensor_v2", "collections OrderedDict",
                      *(f"torch {kind}Storage" for kind in _STORAGES)})


def check_sample_inputs(member: str, data: bytes, settings: Settings) -> None:
    """Raise UnsafeModelError unless `data` is a torch.save archive whose pickle only rebuilds plain tensors."""
    refuse = (f"the .pt2 archive member '{member}' is not a torch.save archive of plain tensors ({{0}}). Torch would "
              "unpickle it, which can run code. Refused. Fix: re-export the model with torch.export.save.")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UnsafeModelError(refuse.format("it is not a zip; a bare pickle in any protocol is refused")) from None
    with zf:
        bounded = BoundedZip(zf, settings)
        pickles = [i for i in bounded.infos if i.filename.endswith("/data.pkl")]
        if len(pickles) != 1 or pickles[0].file_size > _MAX_PICKLE:
            raise UnsafeModelError(refuse.format("it needs exactly one data.pkl of at most 1 MiB"))
        _check_pickle(bounded.read(pickles[0]), refuse)


def _check_pickle(pickle: bytes, refuse: str) -> None:
    try:
        ops = list(pickletools.genops(pickle))
    except (ValueError, EOFError, KeyError) as e:
        raise UnsafeModelError(refuse.format(f"its pickle is malformed: {e}")) from None
    if not ops or ops[0][0].name != "PROTO" or ops[0][1] != 2:
        raise UnsafeModelError(refuse.format("its pickle is not protocol 2"))
    for op, arg, _ in ops:
        if op.name not in _OPCODES:
            raise UnsafeModelError(refuse.format(f"its pickle uses the opcode {op.name}"))
        if op.name == "GLOBAL" and arg not in _GLOBALS:
            raise UnsafeModelError(refuse.format(f"its pickle calls {arg!r}"))
