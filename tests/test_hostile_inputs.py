"""Hostile inputs not covered by the loaders' own tests (see the table in docs/security.md).

Each case asserts the message, that the problem is a user-fixable `AuditkitError` (one line in the CLI, an error box
in the app, never a traceback), that nothing is stored half-way, and for code-carrying files that a canary file
was never created.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import stat
import struct
import tomllib
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from auditkit.checkpoints.loader import load_model
from auditkit.cli import main
from auditkit.config import Settings
from auditkit.data.io import read_table
from auditkit.data.spec import AuditSpec
from auditkit.errors import AuditkitError, DataValidationError, ModelLoadError, UnsafeModelError
from auditkit.inference.runner import predict
from auditkit.service import audit_and_record
from auditkit.store import AuditStore
from auditkit.uploads import store_upload
from tests.builders import Canary, in_process, tabular_frame, tabular_model, tiny_bert

ROOT = Path(__file__).resolve().parents[1]


def refused(call, error: type[AuditkitError], message: str) -> AuditkitError:
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, AuditkitError)
    assert message in str(info.value), str(info.value)
    return info.value


@pytest.fixture(scope="module")
def bert_template(tmp_path_factory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("bert") / "bert")


@pytest.fixture()
def bert(bert_template, tmp_path) -> Path:
    return Path(shutil.copytree(bert_template, tmp_path / "bert"))


def _zip(folder: Path, dst: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(dst, "w") as zf:
        for p in sorted(folder.rglob("*")):
            zf.write(p, f"model/{p.relative_to(folder)}")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return dst


def _nothing_extracted(workspace: Path) -> bool:
    models = workspace / "models"
    return not models.exists() or not any(p for p in models.rglob("*") if p.is_file())


# --- checkpoints -------------------------------------------------------------

def test_sharded_safetensors_load_like_one_file_and_a_missing_or_escaping_shard_is_refused(bert, tmp_path):
    reference = load_model(bert)
    sharded = tmp_path / "sharded"
    in_process(bert).module.save_pretrained(sharded, safe_serialization=True, max_shard_size="20KB")
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (bert / name).exists():
            shutil.copy(bert / name, sharded / name)
    shards = sorted(sharded.glob("model-*.safetensors"))
    assert len(shards) > 1 and (sharded / "model.safetensors.index.json").is_file()
    texts = ["good film", "the food was not great"]
    np.testing.assert_allclose(predict(load_model(sharded), texts).probabilities,
                               predict(reference, texts).probabilities, atol=1e-6)
    index = json.loads((sharded / "model.safetensors.index.json").read_text())
    first = next(iter(index["weight_map"]))
    escaping = {**index, "weight_map": {**index["weight_map"], first: "../outside.safetensors"}}
    (tmp_path / "outside.safetensors").write_bytes(shards[0].read_bytes())
    (sharded / "model.safetensors.index.json").write_text(json.dumps(escaping))
    refused(lambda: load_model(sharded), ModelLoadError, "the shard index lists files that are missing: outside.safetensors")
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    shards[-1].unlink()
    refused(lambda: load_model(sharded), ModelLoadError, f"the shard index lists files that are missing: {shards[-1].name}")


@pytest.mark.parametrize("name", ["model.pt", "model.pth", "model.ckpt"])
def test_full_model_pickle_saved_with_torch_save_never_runs(tmp_path, name, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    canary = tmp_path / "canary"
    torch.save(Canary(canary), tmp_path / name)
    refused(lambda: load_model(tmp_path / name), UnsafeModelError, "is a torch.save pickle (state dict or whole model)")
    assert not canary.exists()


def test_keras_v3_archive_is_refused_as_keras(tmp_path, workspace):
    path = tmp_path / "model.keras"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
        zf.writestr("config.json", json.dumps({"class_name": "Sequential", "config": {"layers": [
            {"class_name": "Lambda", "config": {"function": "lambda x: __import__('os').system('touch canary')"}}]}}))
        zf.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(AuditkitError) as info:
        load_model(path)
    assert not (tmp_path / "canary").exists() and not Path("canary").exists()
    assert "Keras" in str(info.value)


def test_a_checkpoint_path_that_is_a_symlink_is_refused(tmp_path):
    real = tabular_model(tmp_path / "real.pt2")
    link = tmp_path / "model.pt2"
    link.symlink_to(real)
    refused(lambda: load_model(link), UnsafeModelError, "'model.pt2' is a symbolic link; links are refused")


def test_unexpected_and_mismatched_weights_are_errors_not_silently_ignored(bert):
    from safetensors.torch import load_file, save_file

    weights = bert / "model.safetensors"
    tensors = load_file(weights)
    save_file({**tensors, "bert.extra.weight": torch.zeros(3)}, weights)
    refused(lambda: load_model(bert), ModelLoadError, "unexpected keys: bert.extra.weight")
    save_file({**tensors, "classifier.weight": torch.zeros(2, 8)}, weights)
    refused(lambda: load_model(bert), ModelLoadError, "Fix: check that the weights match config.json")


def test_overlapping_safetensors_tensors_are_refused_before_loading(bert):
    weights = bert / "model.safetensors"
    raw = weights.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    names = [k for k in header if k != "__metadata__" and header[k]["dtype"] == "F32"]
    a, b = names[0], names[1]
    b_size = header[b]["data_offsets"][1] - header[b]["data_offsets"][0]
    start = header[a]["data_offsets"][0]
    if b_size > (header[a]["data_offsets"][1] - start):
        a, b = b, a
        b_size = header[b]["data_offsets"][1] - header[b]["data_offsets"][0]
        start = header[a]["data_offsets"][0]
    header[b]["data_offsets"] = [start, start + b_size]
    body = json.dumps(header).encode()
    weights.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + n:])
    refused(lambda: load_model(bert), ModelLoadError, "overlap. The file is corrupt")


def test_zip_with_an_absolute_path_is_refused_and_nothing_escapes(bert, tmp_path, workspace):
    bad = _zip(bert, tmp_path / "abs.zip", {"/tmp/auditkit-escaped.txt": b"x"})
    refused(lambda: load_model(bad), UnsafeModelError, "points outside the archive")
    assert not Path("/tmp/auditkit-escaped.txt").exists()
    assert _nothing_extracted(workspace)


def test_zip_with_too_many_entries_is_refused(bert, tmp_path, workspace, monkeypatch):
    settings = replace(Settings.from_env(), max_archive_files=20)
    bad = _zip(bert, tmp_path / "many.zip", {f"model/pad/{i}.txt": b"x" for i in range(30)})
    refused(lambda: load_model(bad, settings=settings), UnsafeModelError, "over the 20 limit")
    assert _nothing_extracted(workspace)


def test_zip_expanding_past_the_size_cap_is_refused_counting_bytes_read(bert, tmp_path, workspace):
    settings = replace(Settings.from_env(), max_archive_mb=1)
    rng = np.random.default_rng(0)
    bad = _zip(bert, tmp_path / "big.zip", {"model/pad.bin": rng.bytes(2 * 2**20)})
    refused(lambda: load_model(bad, settings=settings), UnsafeModelError, "the archive expands past 1 MB")
    assert _nothing_extracted(workspace)


# --- data files --------------------------------------------------------------

def test_a_csv_that_is_really_parquet_is_refused():
    buf = io.BytesIO()
    pd.DataFrame({"a": [1, 2]}).to_parquet(buf)
    refused(lambda: read_table(buf.getvalue(), name="d.csv"), DataValidationError,
            "the file named as csv is really Parquet. Fix: rename it to .parquet.")


def test_truncated_parquet_is_refused():
    buf = io.BytesIO()
    pd.DataFrame({"a": np.arange(1000), "g": ["x"] * 1000}).to_parquet(buf)
    raw = buf.getvalue()
    refused(lambda: read_table(raw[: len(raw) // 2], name="d.parquet"), DataValidationError,
            "missing PAR1 markers; it may be truncated")


@pytest.mark.parametrize("raw, message", [
    (b'{"a": 1}\n{"a": Infinity}\n', "line 2 of the JSONL"),
    (b'{"a": 1}\n{"a": -Infinity}\n', "line 2 of the JSONL"),
    (b'{"a": 1}\n[1, 2]\n', "line 2 of the JSONL"),
])
def test_jsonl_infinities_and_non_objects_name_the_line(raw, message):
    refused(lambda: read_table(raw, name="d.jsonl"), DataValidationError, message)


def test_a_pickle_named_csv_never_runs(tmp_path):
    import pickle

    canary = tmp_path / "canary"
    refused(lambda: read_table(pickle.dumps(Canary(canary)), name="d.csv"), DataValidationError,
            "the csv file is really a Python pickle, which is never loaded")
    assert not canary.exists()


# --- end to end: nothing stored half-way, one line in the CLI ------------------

SPEC = AuditSpec(target="y", sensitive=("sex",), features=("x1", "x2"))


def test_a_planted_pickle_model_fails_the_run_cleanly(tmp_path, workspace, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    data = tmp_path / "d.csv"
    tabular_frame(50).to_csv(data, index=False)
    canary = tmp_path / "canary"
    evil = tmp_path / "model.pt2"
    torch.save(Canary(canary), evil)
    store = AuditStore()
    refused(lambda: audit_and_record(data, SPEC, model=evil, store=store), UnsafeModelError, "torch.save pickle")
    assert not canary.exists()
    (record,) = store.list()
    assert record.status == "failed" and "UnsafeModelError: 'model.pt2' is a torch.save pickle" in record.error
    assert store.get(record.id).audit is None and store.get(record.id).artifacts == ()
    assert store.verify_chain().ok
    assert _nothing_extracted(workspace)


@pytest.mark.parametrize("raw, message", [
    (b"x1,x2,sex,y\n1,2,F,1\n3,4,M\n", "line 3 of the CSV has 3 fields, but the header has 4"),
    (b"x1,x1,sex,y\n1,2,F,1\n", "duplicate column names: 'x1'"),
    ("x1,x2,sex,y\n1,2,caf\u00e9,1\n".encode("cp1252"), "on line 2"),
])
def test_cli_prints_one_line_exits_2_and_marks_the_run_failed(raw, message, tmp_path, workspace, capsys):
    data = tmp_path / "d.csv"
    data.write_bytes(raw)
    code = main(["audit", "--data", str(data), "--target", "y", "--sensitive", "sex", "--prediction-column", "x1",
                 "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    (record,) = AuditStore().list()
    assert record.status == "failed" and message in record.error
    assert AuditStore().get(record.id).audit is None
    assert not (tmp_path / "out" / "audit.json").exists()


# --- storage and the web app ------------------------------------------------

def test_uploads_are_content_addressed_read_only_and_ignore_the_client_name(workspace):
    settings = Settings.from_env()
    first = store_upload(b"a,b\n1,2\n", "../../../etc/passwd.csv", settings=settings)
    again = store_upload(b"a,b\n1,2\n", "other name.csv", settings=settings)
    odd = store_upload(b"a,b\n3,4\n", "evil.c$v", settings=settings)
    assert first == again and first.parent == workspace / "uploads"
    assert first.name == hashlib.sha256(b"a,b\n1,2\n").hexdigest() + ".csv"
    assert odd.parent == workspace / "uploads" and "." not in odd.name
    assert stat.S_IMODE(os.stat(first).st_mode) & 0o222 == 0
    assert sorted(p.name for p in (workspace / "uploads").iterdir()) == sorted([first.name, odd.name])


def test_streamlit_server_config_is_hardened():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["enableXsrfProtection"] is True
    assert config["server"]["enableStaticServing"] is False
    assert config["client"]["showErrorDetails"] == "none"
    assert config["browser"]["gatherUsageStats"] is False


def test_no_page_renders_user_data_as_html():
    for page in sorted((ROOT / "pages").glob("*.py")) + sorted((ROOT / "dashboard").glob("*.py")) + [ROOT / "app.py"]:
        assert "unsafe_allow_html=True" not in page.read_text(encoding="utf-8"), page.name
