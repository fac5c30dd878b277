"""The member allowlist of a `.pt2` archive: read every member within the size caps and keep only what is data.

Accepted members, under the archive's one root folder:
- `archive_format` (`pt2`), `archive_version` (`0`), `byteorder` (`little`), `.data/version`,
  `.data/serialization_id`: fixed markers (rewritten, not copied, when the archive is rebuilt);
- `models/model.json`: the serialized program (checked by `pt2_program`);
- `data/weights/model_weights_config.json`, `data/constants/model_constants_config.json`: which raw tensor
  member holds each weight or constant, with its dtype, shape, strides and offset;
- `data/weights/weight_<n>`, `data/constants/tensor_<n>`: raw tensor bytes that a config lists with `use_pickle`
  false and whose size is exactly what the listed shapes and dtypes need;
- `data/sample_inputs/model.pt`: a torch.save archive of plain tensors (checked, then dropped: `pt2_sample_inputs`).
Anything else is refused by name: pickled weights, opaque and custom objects (`opaque_obj_*`, `custom_obj_*`),
AOTInductor artefacts (`data/aotinductor/`), shared libraries (by name or by ELF, Mach-O or PE magic), extra
files, other models, planted configs, duplicate names.
"""
from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from auditkit.checkpoints.archive import BoundedZip
from auditkit.checkpoints.pt2_program import check_fqn
from auditkit.checkpoints.pt2_sample_inputs import check_sample_inputs
from auditkit.config import Settings
from auditkit.errors import ModelLoadError, UnsafeModelError

PROGRAM = "models/model.json"
WEIGHTS_CONFIG = "data/weights/model_weights_config.json"
CONSTANTS_CONFIG = "data/constants/model_constants_config.json"
SAMPLE_INPUTS = "data/sample_inputs/model.pt"
_MARKERS = {"archive_format": re.compile(rb"^pt2$"), "archive_version": re.compile(rb"^0$"),
            "byteorder": re.compile(rb"^little$"), ".data/version": re.compile(rb"^[0-9]{1,3}\n?$"),
            ".data/serialization_id": re.compile(rb"^[0-9A-Za-z]{1,64}$")}
_TENSOR_FOLDERS = {WEIGHTS_CONFIG: ("data/weights/", re.compile(r"^weight_[0-9]{1,9}$")),
                   CONSTANTS_CONFIG: ("data/constants/", re.compile(r"^tensor_[0-9]{1,9}$"))}
_MAX_JSON = 64 << 20
_MAX_SAMPLE_INPUTS = 64 << 20
_ITEMSIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 2, 7: 4, 8: 8, 12: 1, 13: 2}  # serialized ScalarType -> bytes
_STRIDED = 7
_NATIVE_MAGIC = (b"\x7fELF", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",
                 b"\xca\xfe\xba\xbe", b"MZ")
_NATIVE_SUFFIXES = (".so", ".dylib", ".dll", ".pyd", ".o", ".a", ".cpp", ".c", ".py")
_REEXPORT = "Fix: re-export the model with torch.export.save from a plain torch.nn module."


@dataclass(frozen=True)
class Pt2Members:
    """The validated bytes of an archive: what a rebuilt archive may hold (paths relative to the root folder)."""

    root: str
    program: bytes
    configs: dict[str, dict[str, Any]]  # WEIGHTS_CONFIG / CONSTANTS_CONFIG -> {"config": {fqn: entry}}
    tensors: dict[str, bytes]  # e.g. "data/weights/weight_0" -> raw bytes


def read_members(path: Path, settings: Settings) -> Pt2Members:
    """Read and check every member of the `.pt2` at `path`; raise UnsafeModelError naming the first refused one."""
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise ModelLoadError(f"'{path.name}' is a corrupt zip file ({e}). Fix: re-create it.") from None
    with zf:
        bounded = BoundedZip(zf, settings)
        members = _relative_names(bounded.infos)
        for rel, info in members.items():
            _refuse_code(rel, info, zf)
        for rel in (PROGRAM, WEIGHTS_CONFIG, CONSTANTS_CONFIG, "archive_format", "archive_version"):
            if rel not in members:
                raise ModelLoadError(f"the .pt2 archive has no '{rel}', so it is not a torch.export program. {_REEXPORT}")
        for rel, pattern in _MARKERS.items():
            if rel in members and not pattern.match(_read(bounded, members[rel], 64)):
                raise UnsafeModelError(f"the .pt2 archive member '{members[rel].filename}' does not hold what torch "
                                       f"writes there. Refused. {_REEXPORT}")
        configs = {rel: _config(members[rel].filename, _read(bounded, members[rel], _MAX_JSON), rel)
                   for rel in (WEIGHTS_CONFIG, CONSTANTS_CONFIG)}
        expected = _expected_tensors(configs, members, settings)
        allowed = {PROGRAM, *configs, *_MARKERS, SAMPLE_INPUTS, *expected}
        for rel, info in members.items():
            if rel not in allowed:
                raise UnsafeModelError(f"the .pt2 archive member '{info.filename}' is not part of a torch.export "
                                       "program AuditKit loads (allowed: the program, its JSON configs, the raw "
                                       f"tensors they list, sample inputs). Refused. {_REEXPORT}")
        if SAMPLE_INPUTS in members:
            info = members[SAMPLE_INPUTS]
            check_sample_inputs(info.filename, _read(bounded, info, _MAX_SAMPLE_INPUTS), settings)
        tensors = {rel: _tensor(bounded, members[rel], size) for rel, size in expected.items()}
        root = PurePosixPath(members[PROGRAM].filename).parts[0]
        return Pt2Members(root, _read(bounded, members[PROGRAM], _MAX_JSON), configs, tensors)


def _relative_names(infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """Member paths relative to the archive's single root folder (torch writes `<root>/...`)."""
    roots = {PurePosixPath(i.filename).parts[0] for i in infos if i.filename}
    if len(roots) != 1:
        raise UnsafeModelError(f"the .pt2 archive has {len(roots)} top-level folders; torch writes one. Refused. {_REEXPORT}")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        parts = PurePosixPath(info.filename).parts
        rel = "/".join(parts[1:])
        if info.is_dir() or not rel:
            raise UnsafeModelError(f"the .pt2 archive member '{info.filename}' is a folder entry, which torch never "
                                   f"writes. Refused. {_REEXPORT}")
        if rel in members:
            raise UnsafeModelError(f"the .pt2 archive member '{info.filename}' appears twice. Refused. {_REEXPORT}")
        members[rel] = info
    return members


def _refuse_code(rel: str, info: zipfile.ZipInfo, zf: zipfile.ZipFile) -> None:
    """AOTInductor artefacts and native code, recognised by folder, name or magic bytes (4 bytes read; raw tensor
    members are data whatever their first bytes)."""
    if rel.startswith("data/aotinductor/"):
        raise UnsafeModelError(f"the .pt2 archive member '{info.filename}' is an AOTInductor artefact (compiled native "
                               "code, its sources or metadata), which torch would load and run. Refused. "
                               "Fix: upload the program saved with torch.export.save, without AOTInductor packaging.")
    try:
        with zf.open(info) as f:
            head = f.read(4)
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
        raise UnsafeModelError(f"the archive entry '{info.filename}' cannot be read ({e}). Fix: re-create the zip.") from None
    raw_tensor = any(rel.startswith(folder) and pattern.match(rel[len(folder):])
                     for folder, pattern in _TENSOR_FOLDERS.values())
    if rel.lower().endswith(_NATIVE_SUFFIXES) or (not raw_tensor and head.startswith(_NATIVE_MAGIC)):
        raise UnsafeModelError(f"the .pt2 archive member '{info.filename}' is native code or source code (a shared "
                               f"library, object file or program). Refused. {_REEXPORT}")


def _read(bounded: BoundedZip, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise UnsafeModelError(f"the .pt2 archive member '{info.filename}' is {info.file_size} bytes, over the "
                               f"{limit} bytes allowed for it. Refused. {_REEXPORT}")
    return bounded.read(info)


def _config(member: str, data: bytes, rel: str) -> dict[str, Any]:
    """A weights or constants config: every entry a raw tensor (never a pickle or an object) in its own folder."""
    try:
        config = json.loads(data)
    except (ValueError, RecursionError):
        config = None
    if not isinstance(config, dict) or set(config) != {"config"} or not isinstance(config["config"], dict):
        raise UnsafeModelError(f"the .pt2 archive member '{member}' is not a weights config (JSON). Refused. {_REEXPORT}")
    pattern = _TENSOR_FOLDERS[rel][1]
    for fqn, entry in config["config"].items():
        check_fqn(fqn)
        if not isinstance(entry, dict):
            raise UnsafeModelError(f"the .pt2 archive member '{member}' has a malformed entry for '{fqn}'. Refused.")
        path_name = entry.get("path_name")
        if entry.get("use_pickle") is not False:
            raise UnsafeModelError(f"the .pt2 archive member '{member}' lists '{fqn}' as a pickle ({path_name}, "
                                   "use_pickle), which torch would unpickle without restriction. Refused. "
                                   f"{_REEXPORT}")
        if not isinstance(path_name, str) or not pattern.match(path_name):
            raise UnsafeModelError(f"the .pt2 archive member '{member}' lists '{fqn}' in {path_name!r}, which is not "
                                   "a raw tensor member (opaque and custom objects are unpickled by torch). "
                                   f"Refused. {_REEXPORT}")
    return config


def _expected_tensors(configs: dict[str, dict[str, Any]], members: dict[str, zipfile.ZipInfo],
                      settings: Settings) -> dict[str, int]:
    """Each raw tensor member the configs list -> the exact byte size its entries need (checked against the budget)."""
    sizes: dict[str, int] = {}
    dtypes: dict[str, int] = {}
    for rel, config in configs.items():
        folder = _TENSOR_FOLDERS[rel][0]
        for fqn, entry in config["config"].items():
            member = folder + entry["path_name"]
            dtype, extent = _extent(rel, fqn, entry.get("tensor_meta"))
            if dtypes.setdefault(member, dtype) != dtype:
                raise UnsafeModelError(f"the .pt2 archive lists '{member}' with two dtypes. Refused. {_REEXPORT}")
            sizes[member] = max(sizes.get(member, 0), extent)
    budget = settings.max_model_gb * 2**30
    if sum(sizes.values()) > budget:
        raise ModelLoadError(f"the .pt2 weights claim {sum(sizes.values()) / 2**30:.1f} GiB, over the "
                             f"{settings.max_model_gb} GiB budget (AUDITKIT_MAX_MODEL_GB).")
    for member, size in sizes.items():
        if member not in members:
            raise ModelLoadError(f"the .pt2 configs list the tensor member '{member}', which the archive does not have. "
                                 f"{_REEXPORT}")
        if members[member].file_size != size:
            raise UnsafeModelError(f"the .pt2 archive member '{members[member].filename}' is {members[member].file_size} "
                                   f"bytes, not the {size} bytes of raw tensor data its config declares. Refused. "
                                   f"{_REEXPORT}")
    return sizes


def _extent(rel: str, fqn: str, meta: Any) -> tuple[int, int]:
    """(dtype, bytes) of the storage a strided tensor needs: offset + sum((size - 1) * stride) + 1 elements."""
    bad = UnsafeModelError(f"the .pt2 archive member '{rel}' describes '{fqn}' with a malformed or unsupported "
                           f"tensor layout (CPU, strided, plain dtypes only). Refused. {_REEXPORT}")
    try:
        plain = meta["dtype"] in _ITEMSIZE and meta["layout"] == _STRIDED and meta["device"]["type"] == "cpu"
        sizes = [s["as_int"] for s in meta["sizes"]]
        strides = [s["as_int"] for s in meta["strides"]]
        offset = meta["storage_offset"]["as_int"]
    except (KeyError, TypeError):
        raise bad from None
    values = [*sizes, *strides, offset]
    if not plain or len(sizes) != len(strides) or not all(type(v) is int and v >= 0 for v in values):
        raise bad
    if 0 in sizes:
        return meta["dtype"], 0
    return meta["dtype"], (offset + sum((n - 1) * s for n, s in zip(sizes, strides)) + 1) * _ITEMSIZE[meta["dtype"]]


def _tensor(bounded: BoundedZip, info: zipfile.ZipInfo, size: int) -> bytes:
    data = bounded.read(info)
    if len(data) != size:
        raise UnsafeModelError(f"the .pt2 archive member '{info.filename}' holds {len(data)} bytes, not the {size} "
                               f"its config declares. Refused. {_REEXPORT}")
    return data
