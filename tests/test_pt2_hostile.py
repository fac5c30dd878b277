"""Hostile `.pt2` archives (issue 18, layer 1): each class is built here from a valid export, shown to act when
torch's own loader reads it, and shown to be refused by AuditKit with a message naming the member or operator,
before anything is deserialised: through `auditkit.load_model`, the CLI and the Setup page. Canary files must never
appear and a victim file must keep its bytes.
"""
from __future__ import annotations

import io
import json
import pickle
import re
import shutil
import subprocess
import tracemalloc
import zipfile
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import pytest
import torch

import auditkit
from auditkit.checkpoints.pt2 import inspect_pt2, load_pt2
from auditkit.checkpoints.pt2_program import check_program
from auditkit.cli import main
from auditkit.config import Settings
from auditkit.errors import AuditkitError, ModelLoadError, UnsafeModelError
from auditkit.store import AuditStore
from tests.builders import Canary, tabular_frame, tabular_model

ROOT = Path(__file__).resolve().parents[1]
SETUP_PAGE = "pages/setup.py"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> bytes:
    """A valid export (root folder `m/`) that every hostile archive is edited from."""
    return tabular_model(tmp_path_factory.mktemp("pt2") / "m.pt2").read_bytes()


def edited(template: bytes, dst: Path, *, replace_members: dict[str, bytes] | None = None,
           add: dict[str, bytes] | None = None, program: Callable[[dict], None] | None = None,
           compression: int = zipfile.ZIP_STORED) -> Path:
    """A copy of the template with members (named relative to the root) replaced or added, or its program edited."""
    replace_members = dict(replace_members or {})
    with zipfile.ZipFile(io.BytesIO(template)) as zin, zipfile.ZipFile(dst, "w", compression) as zout:
        for info in zin.infolist():
            rel = info.filename.split("/", 1)[1]
            data = replace_members.pop(rel, zin.read(info))
            if program is not None and rel == "models/model.json":
                edited_program = json.loads(data)
                program(edited_program)
                data = json.dumps(edited_program).encode()
            zout.writestr(info.filename, data)
        for rel, data in {**replace_members, **(add or {})}.items():
            zout.writestr(f"m/{rel}", data)
    return dst


def edit_config(template: bytes, rel: str, edit: Callable[[dict], None]) -> bytes:
    with zipfile.ZipFile(io.BytesIO(template)) as zf:
        config = json.loads(zf.read(f"m/{rel}"))
    edit(config)
    return json.dumps(config).encode()


def torch_save_bytes(obj: Any) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def shared_library(path: Path, canary: Path) -> bytes:
    """A shared library whose constructor creates `canary` (compiled when a C compiler exists, else ELF bytes)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return b"\x7fELF\x02\x01\x01" + b"\0" * 64
    source = path.with_suffix(".c")
    source.write_text('#include <stdio.h>\n__attribute__((constructor)) static void run(void) {\n'
                      f'  FILE *f = fopen("{canary}", "w"); if (f) fclose(f);\n}}\n')
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(path), str(source)], check=True)
    return path.read_bytes()


def tensor_meta(dtype: int, n: int) -> dict[str, Any]:
    return {"dtype": dtype, "sizes": [{"as_int": n}], "requires_grad": False, "device": {"type": "cpu", "index": None},
            "strides": [{"as_int": 1}], "storage_offset": {"as_int": 0}, "layout": 7}


def node(target: str, inputs: list[tuple[str, dict]], output: str, keywords: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"target": target, "inputs": [{"name": n, "arg": a, "kind": 2 if n in keywords else 1} for n, a in inputs],
            "outputs": [{"as_tensor": {"name": output}}], "metadata": {}, "is_hop_single_tensor_return": None,
            "name": output}


def prepend_nodes(*nodes: tuple[dict, dict]) -> Callable[[dict], None]:
    """A program edit that runs `nodes` ((node, output tensor meta) pairs) before the model's own."""
    def edit(program: dict) -> None:
        graph = program["graph_module"]["graph"]
        for new, meta in nodes:
            graph["tensor_values"][new["name"]] = meta
        graph["nodes"][:0] = [new for new, _ in nodes]
    return edit


def from_file_then_add_(canary: Path, victim: Path) -> Callable[[dict], None]:
    """`aten.from_file(path, shared=True)` on a canary and on a victim, then an in-place add on the victim's map."""
    def from_file(name: str, path: Path, n: int) -> tuple[dict, dict]:
        return node("torch.ops.aten.from_file.default", [("filename", {"as_string": str(path)}),
                    ("shared", {"as_bool": True}), ("size", {"as_int": n}), ("dtype", {"as_scalar_type": 1})],
                    name, keywords=("dtype",)), tensor_meta(1, n)
    bump = node("torch.ops.aten.add_.Scalar", [("self", {"as_tensor": {"name": "victim_map"}}),
                                               ("other", {"as_int": 1})], "bumped"), tensor_meta(1, 8)
    return prepend_nodes(from_file("canary_map", canary, 4), from_file("victim_map", victim, 8), bump)


def set_first_size(expr: str) -> Callable[[dict], None]:
    def edit(program: dict) -> None:
        program["graph_module"]["graph"]["tensor_values"]["x"]["sizes"][0]["as_expr"]["expr_str"] = expr
    return edit


def set_path(path: list, value: Any) -> Callable[[dict], None]:
    def edit(program: dict) -> None:
        target = program
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def first_node(**changes: Any) -> Callable[[dict], None]:
    def edit(program: dict) -> None:
        program["graph_module"]["graph"]["nodes"][0].update(changes)
    return edit


SYMBOL = "Symbol('s77', positive=True, integer=True)"
TOUCH = "__import__('pathlib').Path('{0}').touch()"


# Each case: builder(template, tmp_path, canary, victim) -> hostile .pt2; the error; a fragment of its message.
CASES: dict[str, tuple[Callable[..., Path], type[AuditkitError], str]] = {
    # pickles, in any protocol, behind every name torch reads
    "sample inputs: protocol 0 pickle": (
        lambda t, d, c, v: edited(t, d / "h.pt2", replace_members={"data/sample_inputs/model.pt": pickle.dumps(Canary(c), protocol=0)}),
        UnsafeModelError, "member 'm/data/sample_inputs/model.pt' is not a torch.save archive of plain tensors (it is not a zip"),
    "sample inputs: protocol 1 pickle": (
        lambda t, d, c, v: edited(t, d / "h.pt2", replace_members={"data/sample_inputs/model.pt": pickle.dumps(Canary(c), protocol=1)}),
        UnsafeModelError, "member 'm/data/sample_inputs/model.pt' is not a torch.save archive of plain tensors"),
    "sample inputs: torch.save of an object": (
        lambda t, d, c, v: edited(t, d / "h.pt2", replace_members={"data/sample_inputs/model.pt": torch_save_bytes(Canary(c))}),
        UnsafeModelError, "member 'm/data/sample_inputs/model.pt' is not a torch.save archive of plain tensors (its pickle calls"),
    "weights: a pickle behind a config's path_name": (
        lambda t, d, c, v: edited(t, d / "h.pt2", replace_members={"data/weights/weight_0": pickle.dumps(Canary(c))}),
        UnsafeModelError, "member 'm/data/weights/weight_0' is"),
    "weights: a use_pickle entry": (
        lambda t, d, c, v: edited(t, d / "h.pt2", add={"data/weights/weight_9": torch_save_bytes(Canary(c))}, replace_members={
            "data/weights/model_weights_config.json": edit_config(t, "data/weights/model_weights_config.json", lambda cfg: cfg["config"]["net.0.weight"].update(path_name="weight_9", use_pickle=True))}),
        UnsafeModelError, "member 'm/data/weights/model_weights_config.json' lists 'net.0.weight' as a pickle (weight_9, use_pickle)"),
    "constants: an opaque object": (  # torch unpickles opaque_obj_* whatever use_pickle says
        lambda t, d, c, v: edited(t, d / "h.pt2", add={"data/constants/opaque_obj_0": pickle.dumps(Canary(c))}, replace_members={
            "data/constants/model_constants_config.json": json.dumps({"config": {"evil": {
                "path_name": "opaque_obj_0", "is_param": False, "use_pickle": False,
                "tensor_meta": tensor_meta(1, len(pickle.dumps(Canary(c))))}}}).encode()}),
        UnsafeModelError, "lists 'evil' in 'opaque_obj_0', which is not a raw tensor member"),
    "constants: a custom object": (
        lambda t, d, c, v: edited(t, d / "h.pt2", add={"data/constants/custom_obj_0": pickle.dumps(Canary(c))}, replace_members={
            "data/constants/model_constants_config.json": json.dumps({"config": {"evil": {
                "path_name": "custom_obj_0", "is_param": False, "use_pickle": True, "tensor_meta": None}}}).encode()}),
        UnsafeModelError, "lists 'evil' as a pickle (custom_obj_0, use_pickle)"),
    "a planted config exempting the sample inputs": (
        lambda t, d, c, v: edited(t, d / "h.pt2", replace_members={"data/sample_inputs/model.pt": pickle.dumps(Canary(c))}, add={
            "data/sample_inputs/model_config.json": json.dumps({"config": {"x": {"path_name": "model.pt", "use_pickle": False}}}).encode()}),
        UnsafeModelError, "member 'm/data/sample_inputs/model_config.json' is not part of a torch.export program"),
    # native code
    "AOTInductor shared library and metadata": (
        lambda t, d, c, v: edited(t, d / "h.pt2", add={
            "data/aotinductor/model/model.wrapper.so": shared_library(d / "evil.so", c),
            "data/aotinductor/model/model.wrapper_metadata.json": json.dumps({"AOTI_DEVICE_KEY": "cpu"}).encode()}),
        UnsafeModelError, "member 'm/data/aotinductor/model/model.wrapper.so' is an AOTInductor artefact"),
    "a shared library elsewhere": (
        lambda t, d, c, v: edited(t, d / "h.pt2", add={"extra/libevil.so": shared_library(d / "evil.so", c)}),
        UnsafeModelError, "member 'm/extra/libevil.so' is native code"),
    "ELF bytes under an innocent name": (
        lambda t, d, c, v: edited(t, d / "h.pt2", add={"data/notes": b"\x7fELF\x02\x01\x01" + b"\0" * 64}),
        UnsafeModelError, "member 'm/data/notes' is native code"),
    "an unknown member": (
        lambda t, d, c, v: edited(t, d / "h.pt2", add={"extra/readme.txt": b"hello"}),
        UnsafeModelError, "member 'm/extra/readme.txt' is not part of a torch.export program"),
    # operators with side effects, no pickle at all
    "aten.from_file(shared=True) plus an in-place add": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=from_file_then_add_(c, v)),
        UnsafeModelError, "calls 'aten.from_file.default', which is not on AuditKit's list of pure operators"),
    "an in-place add on an input": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=first_node(target="torch.ops.aten.sub_.Tensor")),
        UnsafeModelError, "calls 'aten.sub_.Tensor', an in-place operator"),
    "an out= variant": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=first_node(target="torch.ops.aten.sub.out")),
        UnsafeModelError, "calls 'aten.sub.out', which writes into its arguments"),
    "a buffer mutation output": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=lambda p: p["graph_module"]["signature"]["output_specs"].append(
            {"buffer_mutation": {"arg": {"name": "sub"}, "buffer_name": "mean"}})),
        UnsafeModelError, "writes to 'mean' (a buffer_mutation output)"),
    "a Python function as a target": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=first_node(target="torch.save")),
        UnsafeModelError, "calls 'torch.save', which is not an aten operator"),
    "a higher-order operator": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=first_node(target="torch.ops.higher_order.cond")),
        UnsafeModelError, "calls 'higher_order.cond', which is not an aten operator"),
    "a custom namespace": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=first_node(target="torch.ops.evil.run.default")),
        UnsafeModelError, "calls 'evil.run.default', which is not an aten operator"),
    "an asynchronous assert": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=first_node(target="torch.ops.aten._assert_async.msg")),
        UnsafeModelError, "calls 'aten._assert_async.msg', which is not on AuditKit's list"),
    "dropout in training mode": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=first_node(target="torch.ops.aten.dropout.default", inputs=[
            {"name": "input", "arg": {"as_tensor": {"name": "x"}}, "kind": 1}, {"name": "p", "arg": {"as_float": 0.5}, "kind": 1},
            {"name": "train", "arg": {"as_bool": True}, "kind": 1}])),
        UnsafeModelError, "calls 'aten.dropout.default' without train set for eval mode"),
    # strings torch turns into code
    "Python in a symbolic size (sympify)": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=set_first_size(TOUCH.format(c) + " or " + SYMBOL)),
        UnsafeModelError, "has a symbolic size \"__import__('pathlib')"),
    "guard code": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=set_path(["guards_code"], [TOUCH.format(c) + " is None"])),
        UnsafeModelError, "carries guard code ('m/models/model.json': guards_code)"),
    "Python in a node name": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=first_node(name="sub = " + TOUCH.format(c))),
        UnsafeModelError, "uses the name \"sub = __import__"),
    "a quote in a weight name": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=set_path(
            ["graph_module", "signature", "input_specs", 0, "parameter", "parameter_name"], 'net.0")or(1')),
        UnsafeModelError, "names a weight 'net.0\")or(1'"),
    "a module import in a pytree spec": (
        lambda t, d, c, v: edited(t, d / "h.pt2", program=set_path(["graph_module", "module_call_graph", 0, "signature", "in_spec"],
            json.dumps([1, {"type": "builtins.dict", "context": json.dumps([{"__enum__": True, "fqn": "antigravity:X", "name": "A"}]),
                            "children_spec": []}]))),
        UnsafeModelError, "pytree spec has the context"),
}
ISSUE_CLASSES = ["sample inputs: protocol 0 pickle", "weights: a pickle behind a config's path_name",
                 "constants: an opaque object", "a planted config exempting the sample inputs",
                 "AOTInductor shared library and metadata", "aten.from_file(shared=True) plus an in-place add",
                 "Python in a symbolic size (sympify)"]


def build(name: str, template: bytes, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The hostile archive for case `name`, its canary path and its victim file (8 zero bytes)."""
    canary, victim = tmp_path / "canary", tmp_path / "victim.bin"
    victim.write_bytes(b"\0" * 8)
    return CASES[name][0](template, tmp_path, canary, victim), canary, victim


def assert_nothing_acted(canary: Path, victim: Path) -> None:
    assert not canary.exists()
    assert victim.read_bytes() == b"\0" * 8


@pytest.mark.parametrize("name", list(CASES))
def test_each_hostile_pt2_is_refused_before_anything_is_deserialised(name, template, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    path, canary, victim = build(name, template, tmp_path)
    _, error, message = CASES[name]
    with pytest.raises(error) as info:
        auditkit.load_model(path)
    assert message in str(info.value), str(info.value)
    with pytest.raises(error, match=".") as again:
        inspect_pt2(path)
    assert str(again.value) == str(info.value)
    assert_nothing_acted(canary, victim)


def _torch_loads_and_runs(path: Path) -> None:
    try:
        torch.export.load(str(path)).module()(torch.zeros(2, 2))
    except Exception:  # most payloads break the load after they have acted
        pass


@pytest.mark.parametrize("name", ["sample inputs: protocol 0 pickle", "sample inputs: protocol 1 pickle",
                                  "weights: a use_pickle entry", "constants: an opaque object",
                                  "AOTInductor shared library and metadata", "Python in a symbolic size (sympify)",
                                  "guard code"])
def test_the_hazards_are_real_torchs_own_loader_runs_them(name, template, tmp_path, monkeypatch):
    if name.startswith("AOTInductor") and not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("needs a C compiler to build the shared library")
    path, canary, _ = build(name, template, tmp_path)
    _torch_loads_and_runs(path)
    assert canary.exists()


def test_from_file_and_an_in_place_add_really_write_files_through_torch(template, tmp_path):
    path, canary, victim = build("aten.from_file(shared=True) plus an in-place add", template, tmp_path)
    _torch_loads_and_runs(path)
    assert canary.exists() and victim.read_bytes() == b"\x01" * 8


@pytest.mark.parametrize("name", ISSUE_CLASSES)
def test_the_cli_prints_one_error_line_and_exits_2(name, template, tmp_path, workspace, capsys):
    path, canary, victim = build(name, template, tmp_path)
    data = tmp_path / "d.csv"
    tabular_frame(50).to_csv(data, index=False)
    code = main(["audit", "--data", str(data), "--target", "y", "--sensitive", "sex", "--features", "x1,x2",
                 "--model", str(path), "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and CASES[name][2] in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    (record,) = AuditStore().list()
    assert record.status == "failed" and CASES[name][2] in record.error
    assert not (tmp_path / "out" / "audit.json").exists()
    assert_nothing_acted(canary, victim)


@pytest.mark.parametrize("name", ISSUE_CLASSES)
def test_the_setup_page_shows_the_refusal_on_upload(name, template, tmp_path, workspace):
    from streamlit.testing.v1 import AppTest

    path, canary, victim = build(name, template, tmp_path)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).switch_page(SETUP_PAGE).run()
    uploaders = {u.label: u for u in at.file_uploader}
    uploaders["Dataset"].set_value(("d.csv", tabular_frame(50).to_csv(index=False).encode(), "text/csv"))
    uploaders["Checkpoint"].set_value(("hostile.pt2", path.read_bytes(), "application/octet-stream"))
    at.run()  # refused as soon as it is uploaded, before any column role is asked for
    assert not at.exception and not [s for s in at.selectbox if s.label.startswith("Label")]
    problems = [re.sub(r"\\(.)", r"\1", e.value) for e in at.error if e.value.startswith("**Problem:**")]  # unescaped
    assert len(problems) == 1 and CASES[name][2] in problems[0], problems
    assert not [s.value for s in at.success if s.value.startswith("Model loaded")]
    assert_nothing_acted(canary, victim)


# --- size limits before decompression -------------------------------------------

def deflated_zeros(size: int) -> tuple[bytes, int]:
    """`size` zero bytes deflated (raw stream) and their CRC, produced in 1 MiB steps."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk, parts, crc = b"\0" * (1 << 20), [], 0
    for _ in range(size >> 20):
        parts.append(comp.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    parts.append(comp.flush())
    return b"".join(parts), crc


def with_deflated_member(template: bytes, dst: Path, rel: str, size: int, *, declared: int | None = None) -> Path:
    """The template with member `rel` holding `size` zero bytes, deflated; with `declared`, its headers understate
    the size (zipfile would not write such an entry, so it is written by hand)."""
    stream, crc = deflated_zeros(size)
    with zipfile.ZipFile(io.BytesIO(template)) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            if info.filename != f"m/{rel}":
                zout.writestr(info.filename, zin.read(info))
    with zipfile.ZipFile(dst, "a") as zf:
        info = zipfile.ZipInfo(f"m/{rel}")
        info.compress_type = zipfile.ZIP_DEFLATED
        info.file_size, info.compress_size, info.CRC = declared or size, len(stream), crc
        info.header_offset = zf.start_dir
        zf.fp.seek(zf.start_dir)
        zf.fp.write(info.FileHeader(zip64=False))
        zf.fp.write(stream)
        zf.start_dir = zf.fp.tell()
        zf.filelist.append(info)
        zf.NameToInfo[info.filename] = info
        zf._didModify = True
    return dst


def test_a_1_gib_member_in_a_1_mb_pt2_is_refused_without_inflating_it(template, tmp_path):
    bomb = with_deflated_member(template, tmp_path / "bomb.pt2", "data/weights/weight_9", 1 << 30)
    assert bomb.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeModelError, match=r"the archive entry 'm/data/weights/weight_9' expands more than 200x"):
            auditkit.load_model(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20


def test_a_member_whose_headers_understate_its_size_is_stopped_at_the_declared_size(template, tmp_path):
    lying = with_deflated_member(template, tmp_path / "lying.pt2", "data/sample_inputs/model.pt", 256 << 20,
                                 declared=1 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeModelError, match=r"the archive entry 'm/data/sample_inputs/model.pt' cannot be read"):
            inspect_pt2(lying)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20


def test_the_archive_budget_counts_declared_sizes_before_reading(template, tmp_path):
    settings = replace(Settings.from_env(), max_archive_mb=1)
    big = edited(template, tmp_path / "big.pt2", add={"data/weights/weight_9": b"\1" * (2 << 20)})
    with pytest.raises(UnsafeModelError, match="the archive expands past 1 MB"):
        auditkit.load_model(big, settings=settings)


# --- what is accepted, and how it reaches torch ---------------------------------

def test_inspection_deserialises_nothing(template, tmp_path, monkeypatch):
    good = tmp_path / "m.pt2"
    good.write_bytes(template)

    def forbidden(*args, **kwargs):
        raise AssertionError("inspection must not deserialise")
    for target in ("torch.load", "torch.export.load", "pickle.loads", "pickle.load", "sympy.sympify"):
        monkeypatch.setattr(target, forbidden)
    checked = inspect_pt2(good)
    assert checked.n_features == 2
    assert sorted(checked.members.tensors) == [f"data/weights/weight_{i}" for i in range(6)]


def test_torch_reads_a_rebuilt_archive_of_checked_bytes_in_a_temporary_folder(template, tmp_path, monkeypatch):
    import tempfile

    good = tmp_path / "m.pt2"
    good.write_bytes(template)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    seen = {}
    real_load = torch.export.load

    def spy(f, *args, **kwargs):
        with zipfile.ZipFile(f) as zf:
            seen.update({n.split("/", 1)[1]: zf.getinfo(n).file_size for n in zf.namelist()})
        return real_load(f, *args, **kwargs)
    monkeypatch.setattr(torch.export, "load", spy)
    model = load_pt2(good, "sha")
    assert seen and not list(scratch.iterdir())  # torch read the rebuilt archive, whose folder is gone
    assert seen["data/sample_inputs/model.pt"] == 0
    assert set(seen) == {"models/model.json", "data/weights/model_weights_config.json",
                         "data/constants/model_constants_config.json", "data/sample_inputs/model.pt",
                         *(f"data/weights/weight_{i}" for i in range(6)),
                         "archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id"}
    assert (model.n_features, model.n_outputs) == (2, 1)


def test_a_text_encoder_passes_the_operator_list_and_is_refused_only_as_not_tabular(tmp_path):
    """The allowlist covers a transformer text classifier (embedding, attention, layer norm, dropout in eval); a
    .pt2 upload must still be tabular."""
    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(50, 16)
            self.layer = torch.nn.TransformerEncoderLayer(16, 2, 32, batch_first=True)
            self.head = torch.nn.Linear(16, 2)

        def forward(self, ids):
            return self.head(self.layer(self.embed(ids)).mean(1))

    program = torch.export.export(Encoder().eval(), (torch.randint(0, 50, (2, 7)),),
                                  dynamic_shapes=({0: torch.export.Dim("batch"), 1: torch.export.Dim("length", max=64)},))
    torch.export.save(program, str(tmp_path / "text.pt2"))
    with pytest.raises(ModelLoadError, match=r"input is not a float32 tensor \[batch, n_features\]"):
        inspect_pt2(tmp_path / "text.pt2")



# --- malformed archives: a message, never a traceback -----------------------------

def _paths(value: Any, prefix: tuple = ()):
    """Every key or index path in a JSON value."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield (*prefix, key)
        yield from _paths(item, (*prefix, key))


def _mutated(value: Any, path: tuple, new: Any) -> Any:
    copy = json.loads(json.dumps(value))
    target = copy
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = new
    return copy


@pytest.mark.parametrize("member", ["models/model.json", "data/weights/model_weights_config.json"])
def test_every_field_of_the_wrong_type_gets_a_message_never_a_traceback(member, template, tmp_path):
    with zipfile.ZipFile(io.BytesIO(template)) as zf:
        original = json.loads(zf.read(f"m/{member}"))
    outcomes = {"accepted": 0, "refused": 0}
    for path in _paths(original):
        for value in (None, 7, "x", [], {}):
            data = json.dumps(_mutated(original, path, value)).encode()
            try:
                if member == "models/model.json":  # the program alone is checked by a pure function of its bytes
                    check_program(f"m/{member}", data)
                else:
                    inspect_pt2(edited(template, tmp_path / "m.pt2", replace_members={member: data}))
                outcomes["accepted"] += 1
            except AuditkitError:
                outcomes["refused"] += 1
    assert outcomes["refused"] > 0  # any other exception would have failed the test
