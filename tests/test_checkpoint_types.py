"""Hugging Face checkpoints with JSON values of the wrong types, negative or nested shapes, dtypes that differ
from the model's with the same byte size; zips whose entries are both file and folder or thousands of folders
deep; and a refused zip that leaves nothing extracted in the workspace."""
import json
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from auditkit.checkpoints.loader import load_model
from auditkit.checkpoints.safetensors_check import check_safetensors
from auditkit.errors import ModelLoadError, UnsafeModelError
from auditkit.inference.runner import predict
from tests.builders import in_process, text_frame, tiny_bert


@pytest.fixture(scope="module")
def bert_template(tmp_path_factory) -> Path:
    return tiny_bert(tmp_path_factory.mktemp("bert") / "bert")


@pytest.fixture()
def bert(bert_template, tmp_path) -> Path:
    return Path(shutil.copytree(bert_template, tmp_path / "bert"))


def _edit_header(path: Path, edit) -> None:
    """Rewrite a safetensors file's header with `edit(header)`, keeping the data bytes."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    edit(header)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + n:])


def _edit_config(folder: Path, **fields) -> None:
    config = json.loads((folder / "config.json").read_text())
    config.update(fields)
    (folder / "config.json").write_text(json.dumps(config))


def _zip(entries: dict[str, bytes | None], dst: Path) -> Path:
    with zipfile.ZipFile(dst, "w") as zf:
        for name, data in entries.items():
            if data is None:
                zf.writestr(zipfile.ZipInfo(name), b"")  # a name ending in / is a folder entry
            else:
                zf.writestr(name, data)
    return dst


def _nothing_extracted(workspace: Path) -> bool:
    models = workspace / "models"
    return not models.exists() or not any(models.iterdir())


@pytest.mark.parametrize("fields, message", [
    ({"num_labels": "two"}, "config.json field 'num_labels' is \"two\", not a whole number >= 1."),
    ({"hidden_size": -16}, "config.json field 'hidden_size' is -16, not a whole number >= 1."),
    ({"num_hidden_layers": True}, "config.json field 'num_hidden_layers' is true, not a whole number >= 1."),
    ({"vocab_size": 19.5}, "config.json field 'vocab_size' is 19.5, not a whole number >= 1."),
    ({"max_position_embeddings": [64]}, "config.json field 'max_position_embeddings' is [64], not a whole number >= 1."),
    ({"id2label": ["a", "b"]}, "config.json field 'id2label' must be an object of labels."),
    ({"model_type": ["bert"]}, "config.json names model_type ['bert'], which transformers does not know."),
])
def test_config_fields_of_the_wrong_type_are_named(bert, fields, message):
    _edit_config(bert, **fields)
    with pytest.raises(ModelLoadError) as err:
        load_model(bert)
    assert str(err.value).startswith(message)


def test_a_config_of_valid_types_describing_an_impossible_model_gets_a_message(bert):
    _edit_config(bert, hidden_size=15)  # not a multiple of the 2 attention heads
    with pytest.raises(ModelLoadError, match=r"^the model cannot be loaded: .*Fix: check that the weights match config.json.$"):
        load_model(bert)


@pytest.mark.parametrize("content", [[1, 2], {"weight_map": ["model.safetensors"]},
                                     {"weight_map": {"classifier.weight": 5}}, {"weight_map": {}}, "text"])
def test_a_shard_index_of_the_wrong_types_is_named(bert, content):
    (bert / "model.safetensors.index.json").write_text(json.dumps(content))
    with pytest.raises(ModelLoadError) as err:
        load_model(bert)
    assert str(err.value) == ("model.safetensors.index.json is malformed: its 'weight_map' must map tensor names to "
                              "shard file names. Fix: re-save the model with save_pretrained().")


MALFORMED = "'model.safetensors': tensor 'classifier.weight' has a malformed header entry ({}). Fix: re-save the weights with safetensors."


@pytest.mark.parametrize("change, detail", [
    ({"shape": [-2, -16]}, "shape [-2, -16] is not a list of whole numbers >= 0"),
    ({"shape": [[2], [16]]}, "shape [[2], [16]] is not a list of whole numbers >= 0"),
    ({"shape": [2.0, 16]}, "shape [2.0, 16] is not a list of whole numbers >= 0"),
    ({"shape": [True, 32]}, "shape [true, 32] is not a list of whole numbers >= 0"),
    ({"shape": "2x16"}, "shape \"2x16\" is not a list of whole numbers >= 0"),
    ({"data_offsets": [0, 128, 256]}, "data_offsets [0, 128, 256] is not a list of whole numbers >= 0"),
    ({"data_offsets": {"begin": 0}}, "data_offsets {\"begin\": 0} is not a list of whole numbers >= 0"),
    ({"dtype": 32}, "unknown dtype 32"),
    ({"extra": 1}, "it must be an object with exactly dtype, shape and data_offsets"),
])
def test_safetensors_entries_of_the_wrong_type_name_the_tensor(bert, change, detail):
    _edit_header(bert / "model.safetensors", lambda h: h["classifier.weight"].update(change))
    with pytest.raises(ModelLoadError) as err:
        check_safetensors(bert / "model.safetensors", budget_bytes=2**30)
    assert str(err.value) == MALFORMED.format(detail)


def test_safetensors_headers_that_are_not_objects_are_refused(bert, tmp_path):
    weights = bert / "model.safetensors"
    _edit_header(weights, lambda h: h.update({"__metadata__": {"format": 1}}))
    with pytest.raises(ModelLoadError, match="the header's __metadata__ must map names to strings"):
        load_model(bert)
    entry = tmp_path / "entry.safetensors"
    body = b'{"w": "F32"}      '
    entry.write_bytes(struct.pack("<Q", len(body)) + body)
    with pytest.raises(ModelLoadError, match=r"tensor 'w' has a malformed header entry \(it must be an object"):
        check_safetensors(entry, budget_bytes=2**30)
    listed = tmp_path / "list.safetensors"
    listed.write_bytes(struct.pack("<Q", 8) + b"[1, 2]  ")
    with pytest.raises(ModelLoadError, match="has a header that is not a JSON object"):
        check_safetensors(listed, budget_bytes=2**30)
    nan = tmp_path / "nan.safetensors"
    nan.write_bytes(struct.pack("<Q", 8) + b'{"a":NaN')
    with pytest.raises(ModelLoadError, match="has an unreadable header"):
        check_safetensors(nan, budget_bytes=2**30)


def test_a_dtype_of_the_same_byte_size_is_refused_naming_the_tensor(bert):
    _edit_header(bert / "model.safetensors", lambda h: h["classifier.weight"].update(dtype="I32"))
    with pytest.raises(ModelLoadError) as err:
        load_model(bert)
    assert str(err.value) == ("'model.safetensors': tensor 'classifier.weight' is stored as I32 (int32) but the model "
                              "holds it as float32; its bytes would be read as the wrong type. Refused. Fix: re-save "
                              "the weights with save_pretrained().")


def test_a_half_precision_model_loads_and_one_bf16_tensor_in_it_is_refused(bert, tmp_path):
    half = Path(shutil.copytree(bert, tmp_path / "half"))
    in_process(bert).module.half().save_pretrained(half, safe_serialization=True)
    texts = text_frame(n=6)["text"].tolist()
    expected = predict(load_model(bert), texts).probabilities
    np.testing.assert_allclose(predict(load_model(half), texts).probabilities, expected, atol=5e-3)
    _edit_header(half / "model.safetensors", lambda h: h["bert.pooler.dense.weight"].update(dtype="BF16"))
    with pytest.raises(ModelLoadError, match=r"^'model.safetensors': tensor 'bert.pooler.dense.weight' is stored as "
                                             r"BF16 \(bfloat16\) but the model holds it as float16;"):
        load_model(half)
    assert torch.float16 == next(in_process(bert).module.half().parameters()).dtype


def test_zip_entries_that_are_both_file_and_folder_are_refused(tmp_path, workspace):
    cases = {
        "file-then-child": {"m/config.json": b"{}", "m/config.json/x": b"1"},
        "file-then-folder": {"m/config.json": b"{}", "m/vocab.txt": b"a", "m/vocab.txt/": None},
        "folder-is-a-file": {"m": b"x", "m/config.json": b"{}"},
    }
    named = {"file-then-child": "m/config.json", "file-then-folder": "m/vocab.txt", "folder-is-a-file": "m"}
    for case, entries in cases.items():
        with pytest.raises(UnsafeModelError) as err:
            load_model(_zip(entries, tmp_path / f"{case}.zip"))
        assert str(err.value) == (f"the archive entry '{named[case]}' is both a file and a folder. "
                                  "Fix: re-create the zip from the model folder itself.")
    assert _nothing_extracted(workspace)


def test_zip_entries_thousands_of_folders_deep_are_refused(tmp_path, workspace):
    deep = "/".join(["d"] * 3000) + "/config.json"
    with pytest.raises(UnsafeModelError) as err:
        load_model(_zip({deep: b"{}"}, tmp_path / "deep.zip"))
    assert str(err.value) == (f"the archive entry '{deep[:60]}...' is 3000 folders deep, over the 32 limit. "
                              "Fix: zip the model folder itself.")
    long = "m/" + "n" * 300 + "/config.json"
    with pytest.raises(UnsafeModelError, match="has a name part over 255 bytes"):
        load_model(_zip({long: b"{}"}, tmp_path / "long.zip"))
    assert _nothing_extracted(workspace)


def test_a_refused_zip_is_not_left_extracted_and_an_accepted_one_is_kept_once(bert, tmp_path, workspace):
    def zipped(folder: Path, dst: Path) -> Path:
        with zipfile.ZipFile(dst, "w") as zf:
            for p in sorted(folder.rglob("*")):
                zf.write(p, f"model/{p.relative_to(folder)}")
        return dst

    code = Path(shutil.copytree(bert, tmp_path / "code"))
    (code / "modeling_evil.py").write_text("import os\n")
    with pytest.raises(UnsafeModelError, match="contains Python code 'modeling_evil.py'"):
        load_model(zipped(code, tmp_path / "code.zip"))
    wrong = Path(shutil.copytree(bert, tmp_path / "wrong"))
    _edit_header(wrong / "model.safetensors", lambda h: h["classifier.weight"].update(shape=[-2, -16]))
    with pytest.raises(ModelLoadError, match="has a malformed header entry"):
        load_model(zipped(wrong, tmp_path / "wrong.zip"))
    assert _nothing_extracted(workspace)
    good = load_model(zipped(bert, tmp_path / "good.zip"))
    kept = [p for p in (workspace / "models").iterdir()]
    assert [p.name for p in kept] == [good.sha256] and (kept[0] / "model" / "config.json").is_file()
