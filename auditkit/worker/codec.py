"""Arrays in, arrays out: a message format for the worker pipe that can carry data and nothing else.

A message is a JSON tree plus raw buffers. The tree holds None, booleans, numbers and strings as themselves and
everything else as a tagged node: lists, tuples, dicts (any encodable keys), NumPy arrays of numeric, boolean or
fixed-width string dtypes (raw bytes in a buffer), object arrays of plain values, NumPy scalars, torch tensors
(decoded as tensors, their bytes as an array), pandas DataFrames and Series, bytes, and the dataclasses
registered with `transferable`. Decoding builds only those; an unknown tag, dtype or class is an error (the worker
first imports the AuditKit module a class names, `import_types_from`), and a buffer must hold exactly the bytes
its shape and dtype say. No pickle is involved in either direction.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import mmap
import os
import re
import stat
import struct
import uuid
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
import pandas as pd

from auditkit.errors import AuditkitError

T = TypeVar("T")
_TYPES: dict[str, type] = {}
_IMPORTABLE: set[str] = set()  # packages whose modules decoding may import (the worker only)
_DTYPE_KINDS = "biufU"  # bool, signed, unsigned, float, fixed-width unicode
_MAX_DEPTH = 64
_LEN = struct.Struct("<Q")
SPILL_BYTES = 1 << 20  # buffers this large go through a shared file when a spill folder is given
_SPILLED = (1 << 64) - 1  # the length that marks a spilled buffer: a 36-byte file name follows, then the size
_SPILL_NAME = 36
_SPILL_FILE = re.compile(r"[0-9a-f]{32}\.buf")


class CodecError(AuditkitError):
    """A worker message holds something other than data, or is malformed."""


def transferable(cls: type[T]) -> type[T]:
    """Register a dataclass whose instances may cross the worker boundary (fields are encoded recursively)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    _TYPES[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return cls


def import_types_from(package: str) -> None:
    """Let decoding import the module of a dataclass named under `package` that is not registered yet (its module
    registers it). The worker calls this for the app's requests, whose argument types it may not have imported
    yet; the app never does, so a worker cannot make the app import anything."""
    _IMPORTABLE.add(package)


def encode(obj: Any) -> tuple[bytes, list[memoryview]]:
    """The JSON header and the raw buffers of `obj`."""
    buffers: list[memoryview] = []
    tree = _encode(obj, buffers, 0)
    return json.dumps(tree, separators=(",", ":")).encode(), buffers


def decode(header: bytes, buffers: list[bytes] | list[bytearray]) -> Any:
    """The value encoded in `header` and `buffers`; CodecError when it is not plain data."""
    try:
        tree = json.loads(header)
    except (ValueError, UnicodeDecodeError) as e:
        raise CodecError(f"the worker sent an unreadable message ({e})") from None
    return _decode(tree, buffers, 0)


def write_message(stream: BinaryIO, obj: Any, *, spill: Path | None = None) -> None:
    """Write one framed message: header length, header, buffer count, then each buffer's length and bytes.

    With `spill` (a folder both processes use, on shared memory where the system has it), a buffer of at least
    `SPILL_BYTES` is written to a file there and the frame names the file instead of carrying the bytes.
    """
    header, buffers = encode(obj)
    stream.write(_LEN.pack(len(header)) + header + _LEN.pack(len(buffers)))
    for buf in buffers:
        if spill is not None and buf.nbytes >= SPILL_BYTES:
            name = f"{uuid.uuid4().hex}.buf"
            with open(spill / name, "wb") as f:
                f.write(buf)
            stream.write(_LEN.pack(_SPILLED) + name.encode() + _LEN.pack(buf.nbytes))
        else:
            stream.write(_LEN.pack(buf.nbytes))
            stream.write(buf)
    stream.flush()


def read_message(stream: BinaryIO, *, max_bytes: int, spill: Path | None = None) -> Any:
    """Read one framed message of at most `max_bytes` in all; EOFError when the stream ends first. Buffers the
    sender spilled to files in `spill` are mapped (copy on write) and their files removed."""
    budget = [max_bytes]
    header = _read(stream, _read_len(stream, budget))
    count = _read_len(stream, budget, limit=1 << 20)
    return decode(header, [_read_buffer(stream, budget, spill) for _ in range(count)])


def _read_buffer(stream: BinaryIO, budget: list[int], spill: Path | None) -> bytearray | mmap.mmap:
    (n,) = _LEN.unpack(_read(stream, _LEN.size))
    if n != _SPILLED:
        return _read(stream, _take(budget, n))
    name = bytes(_read(stream, _SPILL_NAME)).decode("ascii", "replace")
    size = _take(budget, _LEN.unpack(_read(stream, _LEN.size))[0])
    if spill is None or not _SPILL_FILE.fullmatch(name):
        raise CodecError("the worker message names a shared buffer it may not use")
    path = spill / name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise CodecError(f"the worker message names a shared buffer that cannot be opened ({e})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size != size:
            raise CodecError("the worker message names a shared buffer of the wrong kind or size")
        return mmap.mmap(fd, size, access=mmap.ACCESS_COPY) if size else bytearray()
    finally:
        os.close(fd)
        path.unlink(missing_ok=True)


def _take(budget: list[int], n: int) -> int:
    budget[0] -= n
    if budget[0] < 0:
        raise CodecError("the worker message is larger than the size limit (AUDITKIT_WORKER_MESSAGE_MB)")
    return n


def _read_len(stream: BinaryIO, budget: list[int], limit: int | None = None) -> int:
    (n,) = _LEN.unpack(_read(stream, _LEN.size))
    if limit is not None:
        if n > limit:
            raise CodecError(f"the worker message declares {n} buffers, over the limit of {limit}")
        return n
    return _take(budget, n)


def _read(stream: BinaryIO, n: int) -> bytearray:
    """Exactly `n` bytes, read straight into one buffer (arrays are decoded over it without another copy)."""
    buf = bytearray(n)
    view, done = memoryview(buf), 0
    while done < n:
        got = stream.readinto(view[done:])
        if not got:
            raise EOFError("the worker closed the pipe")
        done += got
    return buf


def _encode(obj: Any, buffers: list[memoryview], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise CodecError("the value is nested too deeply to send")
    d = depth + 1
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else {"$": "float", "v": repr(obj)}
    if isinstance(obj, np.generic):
        return {"$": "scalar", "v": _encode(np.asarray(obj)[()].item() if obj.dtype.kind != "U" else str(obj), buffers, d),
                "dtype": obj.dtype.str}
    if isinstance(obj, np.ndarray):
        return _encode_array(obj, buffers, d)
    if type(obj).__module__.startswith("torch") and hasattr(obj, "detach"):
        return {"$": "tensor", "a": _encode_array(obj.detach().cpu().numpy(), buffers, d)}
    if isinstance(obj, (bytes, bytearray)):
        buffers.append(memoryview(bytes(obj)))
        return {"$": "bytes", "b": len(buffers) - 1}
    if isinstance(obj, list):
        return [_encode(v, buffers, d) for v in obj]
    if isinstance(obj, tuple):
        return {"$": "tuple", "v": [_encode(v, buffers, d) for v in obj]}
    if isinstance(obj, dict):
        return {"$": "dict", "k": [_encode(k, buffers, d) for k in obj], "v": [_encode(v, buffers, d) for v in obj.values()]}
    if isinstance(obj, pd.DataFrame):
        return {"$": "frame", "c": [_encode(c, buffers, d) for c in obj.columns],
                "v": [_encode(obj[c].to_numpy(), buffers, d) for c in obj.columns], "i": _encode(obj.index.to_numpy(), buffers, d)}
    if isinstance(obj, pd.Series):
        return {"$": "series", "n": _encode(obj.name, buffers, d), "v": _encode(obj.to_numpy(), buffers, d),
                "i": _encode(obj.index.to_numpy(), buffers, d)}
    name = f"{type(obj).__module__}.{type(obj).__qualname__}"
    if name in _TYPES and dataclasses.is_dataclass(obj):
        return {"$": "dc", "cls": name,
                "f": {f.name: _encode(getattr(obj, f.name), buffers, d) for f in dataclasses.fields(obj) if f.init}}
    raise CodecError(f"a {type(obj).__name__} cannot cross the worker boundary (only arrays and plain data can)")


def _encode_array(a: np.ndarray, buffers: list[memoryview], depth: int) -> Any:
    if a.dtype.kind in _DTYPE_KINDS:
        a = np.ascontiguousarray(a)
        buffers.append(memoryview(a).cast("B") if a.nbytes else memoryview(b""))
        return {"$": "nd", "dtype": a.dtype.str, "shape": list(a.shape), "b": len(buffers) - 1}
    if a.dtype.kind == "O":
        return {"$": "objnd", "shape": list(a.shape), "v": [_encode(v, buffers, depth) for v in a.ravel().tolist()]}
    raise CodecError(f"arrays of dtype {a.dtype} cannot cross the worker boundary")


def _decode(node: Any, buffers: list[bytes], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        raise CodecError("the worker message is nested too deeply")
    d = depth + 1
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [_decode(v, buffers, d) for v in node]
    if not isinstance(node, dict) or not isinstance(node.get("$"), str):
        raise CodecError("the worker message holds an untagged object")
    tag = node["$"]
    if tag == "float":
        if node["v"] not in ("nan", "inf", "-inf"):
            raise CodecError("the worker message holds a malformed number")
        return float(node["v"])
    if tag == "tuple":
        return tuple(_decode(v, buffers, d) for v in node["v"])
    if tag == "dict":
        keys = [_hashable(_decode(k, buffers, d)) for k in node["k"]]
        return dict(zip(keys, (_decode(v, buffers, d) for v in node["v"]), strict=True))
    if tag == "nd":
        return _decode_array(node, buffers)
    if tag == "objnd":
        values = [_decode(v, buffers, d) for v in node["v"]]
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out.reshape([int(s) for s in node["shape"]])
    if tag == "scalar":
        return _dtype(node["dtype"]).type(_decode(node["v"], buffers, d))
    if tag == "tensor":
        import torch

        return torch.from_numpy(np.array(_decode(node["a"], buffers, d)))
    if tag == "bytes":
        return bytes(_buffer(buffers, node["b"]))
    if tag == "frame":
        columns = [_decode(c, buffers, d) for c in node["c"]]
        values = [_decode(v, buffers, d) for v in node["v"]]
        return pd.DataFrame(dict(zip(columns, values, strict=True)), index=_decode(node["i"], buffers, d))
    if tag == "series":
        return pd.Series(_decode(node["v"], buffers, d), index=_decode(node["i"], buffers, d),
                         name=_decode(node["n"], buffers, d))
    if tag == "dc":
        cls = _TYPES.get(node["cls"]) or _import_type(str(node["cls"]))
        if cls is None:
            raise CodecError(f"the worker sent a {node['cls']!r}, which is not a registered result type")
        return cls(**{str(k): _decode(v, buffers, d) for k, v in node["f"].items()})
    raise CodecError(f"the worker message holds an unknown kind of value ({tag!r})")


def _import_type(name: str) -> type | None:
    """The registered dataclass `name` after importing its module, when `import_types_from` allows that module."""
    module = name.rpartition(".")[0]
    if any(module == p or module.startswith(p + ".") for p in _IMPORTABLE):
        try:
            importlib.import_module(module)
        except ImportError:
            return None
    return _TYPES.get(name)


def _hashable(key: Any) -> Any:
    if isinstance(key, (list, np.ndarray)):
        raise CodecError("the worker message holds a dict with an unhashable key")
    return key


def _dtype(text: Any) -> np.dtype:
    try:
        dtype = np.dtype(str(text))
    except TypeError:
        raise CodecError(f"the worker message names an unknown dtype {text!r}") from None
    if dtype.kind not in _DTYPE_KINDS:
        raise CodecError(f"the worker message holds an array of dtype {dtype}, which is not plain data")
    return dtype


def _buffer(buffers: list[bytes], index: Any) -> bytes:
    if not isinstance(index, int) or not 0 <= index < len(buffers):
        raise CodecError("the worker message refers to a missing buffer")
    return buffers[index]


def _decode_array(node: dict, buffers: list[bytes]) -> np.ndarray:
    dtype = _dtype(node["dtype"])
    shape = [int(s) for s in node["shape"]]
    if any(s < 0 for s in shape):
        raise CodecError("the worker message holds an array with a negative dimension")
    raw = _buffer(buffers, node["b"])
    if int(np.prod(shape, dtype=object)) * dtype.itemsize != len(raw):
        raise CodecError("the worker message holds an array whose bytes do not match its shape")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape)
    # a message's own buffer (read into, or mapped copy-on-write) is writable and unshared
    return array if isinstance(raw, (bytearray, mmap.mmap)) else array.copy()
