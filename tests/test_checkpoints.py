import io
import json
import pickle
import shutil
import struct
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from auditkit.checkpoints.loader import load_model
from auditkit.errors import ModelLoadError, UnsafeModelError
from auditkit.inference.runner import predict
from auditkit.tabular import TabularMLP

from tests.builders import Canary, in_process, tabular_model, tiny_bert


def rewrite_zip(src, dst, replace):
    """Copy a zip, replacing members: replace(name, data) -> new bytes or None to keep."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info.filename, replace(info.filename, data) or data)
    return dst


def zip_folder(folder, dst):
    with zipfile.ZipFile(dst, "w") as zf:
        for p in sorted(folder.rglob("*")):
            zf.write(p, f"model/{p.relative_to(folder)}")
    return dst


# --- torch.export programs -------------------------------------------------

def test_pt2_loads_and_predicts(tmp_path):
    model = load_model(tabular_model(tmp_path / "m.pt2"))
    assert (model.family.kind, model.fmt, model.n_outputs, model.n_features) == ("tabular", "pt2", 1, 2)
    preds = predict(model, np.array([[1.0, 0.0], [-1.0, 0.0]], dtype=np.float32))
    assert preds.indices.tolist() == [1, 0]


def test_raw_weights_starting_with_the_pickle_opcode_byte_load(tmp_path):
    """Raw tensor bytes listed in the weights config are never sniffed for pickle: 0x80 is just a float byte."""
    from auditkit.tabular import export_tabular

    model = TabularMLP(2, hidden=(4,))
    first = struct.unpack("<f", b"\x80\x00\x00\x3f")[0]  # a float whose little-endian bytes start with 0x80
    with torch.no_grad():
        model.net[0].weight.fill_(first)
        model.net[0].bias.fill_(first)
    loaded = load_model(export_tabular(model, 2, tmp_path / "m.pt2"))
    x = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)
    expected = torch.sigmoid(model(torch.from_numpy(x))).detach().numpy()
    np.testing.assert_allclose(predict(loaded, x).probabilities[:, 1], expected, atol=1e-7)


class _Normalised(nn.Module):
    """Batch norm, layer norm, GELU, dropout (eval) and a non-persistent buffer: a constant, not a weight."""

    def __init__(self):
        super().__init__()
        self.bn, self.l1, self.ln, self.drop, self.l2 = (nn.BatchNorm1d(5), nn.Linear(5, 16), nn.LayerNorm(16),
                                                         nn.Dropout(0.3), nn.Linear(16, 3))
        self.register_buffer("scale", torch.linspace(0.5, 2.0, 5), persistent=False)
        with torch.no_grad():
            self.bn.running_mean.uniform_(-1, 1)
            self.bn.running_var.uniform_(0.5, 2)

    def forward(self, x):
        return torch.log_softmax(self.l2(self.drop(torch.nn.functional.gelu(self.ln(self.l1(self.bn(x * self.scale)))))), -1)


@pytest.mark.parametrize("make, n_features, n_outputs", [
    (lambda: TabularMLP(2, hidden=(8,)), 2, 1),
    (lambda: TabularMLP(4, hidden=(8, 8), n_classes=3, mean=np.arange(4.0), std=np.full(4, 2.0)), 4, 3),
    (_Normalised, 5, 3),
])
def test_valid_programs_load_from_the_rebuilt_archive_and_predict_identically(tmp_path, make, n_features, n_outputs):
    from auditkit.checkpoints.pt2 import load_pt2
    from auditkit.tabular import export_tabular

    torch.manual_seed(0)
    model = make().eval()
    loaded = load_pt2(export_tabular(model, n_features, tmp_path / "m.pt2"), "sha")
    x = torch.randn(64, n_features)
    assert (loaded.n_features, loaded.n_outputs) == (n_features, n_outputs)
    np.testing.assert_array_equal(loaded.module(x).detach().numpy(), model(x).detach().numpy())


@pytest.mark.parametrize("payload", ["raw-pickle", "torch-save"])
def test_planted_sample_inputs_pickle_is_refused_and_never_runs(tmp_path, payload):
    good = tabular_model(tmp_path / "m.pt2")
    canary = tmp_path / "canary"
    if payload == "raw-pickle":
        evil_bytes = pickle.dumps(Canary(canary))
    else:
        buf = io.BytesIO()
        torch.save(Canary(canary), buf)
        evil_bytes = buf.getvalue()
    evil = rewrite_zip(good, tmp_path / "evil.pt2", lambda n, d: evil_bytes if "sample_inputs" in n else None)
    with pytest.raises(UnsafeModelError, match="member 'm/data/sample_inputs/model.pt' is not a torch.save archive "
                                               "of plain tensors"):
        load_model(evil)
    assert not canary.exists()
    # The hazard is real: torch's own loader runs the payload.
    try:
        torch.export.load(str(evil))
    except Exception:
        pass
    assert canary.exists()


def test_use_pickle_weights_entry_is_refused(tmp_path):
    good = tabular_model(tmp_path / "m.pt2")

    def flip(name, data):
        if name.endswith("model_weights_config.json"):
            config = json.loads(data)
            next(iter(config["config"].values()))["use_pickle"] = True
            return json.dumps(config).encode()
    with pytest.raises(UnsafeModelError, match=r"model_weights_config.json' lists 'net.0.weight' as a pickle \(weight_0, use_pickle\)"):
        load_model(rewrite_zip(good, tmp_path / "p.pt2", flip))


@pytest.mark.parametrize("make, message", [
    (lambda p: torch.save(TabularMLP(2).state_dict(), p), "torch.save pickle"),
    (lambda p: torch.save(TabularMLP(2), p), "torch.save pickle"),
    (lambda p: torch.jit.script(TabularMLP(2)).save(str(p)), "TorchScript"),
    (lambda p: p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64), "Keras HDF5"),
    (lambda p: p.write_bytes(struct.pack("<Q", 2) + b"{}"), "bare safetensors"),
    (lambda p: p.write_bytes(b"hello world, not a model"), "not a supported checkpoint"),
])
def test_unsafe_or_unknown_files_are_refused_by_their_bytes(tmp_path, make, message):
    path = tmp_path / "model.pt2"  # the extension lies on purpose
    make(path)
    with pytest.raises((UnsafeModelError, ModelLoadError), match=message):
        load_model(path)


@pytest.mark.parametrize("name", ["model.pkl", "model.joblib", "model.dill", "weights.bin"])
def test_pickles_never_execute(tmp_path, name, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    canary = tmp_path / "canary"
    path = tmp_path / name
    path.write_bytes(pickle.dumps(Canary(canary)))
    with pytest.raises(UnsafeModelError, match="pickle"):
        load_model(path)
    assert not canary.exists()


# --- Hugging Face folders ---------------------------------------------------

def test_hf_folder_and_zip_load_identically(tmp_path):
    folder = tiny_bert(tmp_path / "bert")
    model = load_model(folder)
    assert (model.family.kind, model.fmt, model.class_names) == ("text", "hf-safetensors", ("class_0", "class_1"))
    zipped = load_model(zip_folder(folder, tmp_path / "bert.zip"))
    texts = ["good film", "the food was very bad not great"]
    np.testing.assert_allclose(predict(model, texts).probabilities, predict(zipped, texts).probabilities, atol=1e-6)


@pytest.mark.parametrize("plant, error, message", [
    (lambda f: (f / "modeling_evil.py").write_text("import os"), UnsafeModelError, "contains Python code 'modeling_evil.py'"),
    (lambda f: (f / "config.json").write_text(json.dumps({**json.loads((f / "config.json").read_text()), "auto_map": {"AutoModel": "x.Y"}})),
     UnsafeModelError, "auto_map"),
    (lambda f: (f / "link").symlink_to("/etc/passwd"), UnsafeModelError, "symbolic link 'link'"),
    (lambda f: (f / "config.json").unlink(), ModelLoadError, "no config.json"),
    (lambda f: (f / "config.json").write_text(json.dumps({"model_type": "evil"})), ModelLoadError, "model_type 'evil'"),
    (lambda f: [(f / n).unlink() for n in ("tokenizer.json", "vocab.txt", "tokenizer_config.json")], ModelLoadError, "no usable tokenizer"),
])
def test_hf_folder_hazards(tmp_path, plant, error, message):
    folder = tiny_bert(tmp_path / "bert")
    plant(folder)
    with pytest.raises(error, match=message):
        load_model(folder)


def test_weights_that_do_not_match_the_config_are_an_error_not_random_init(tmp_path):
    folder = tiny_bert(tmp_path / "bert", layers=2)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 3}))
    with pytest.raises(ModelLoadError, match="missing keys: .*layer.2"):
        load_model(folder)


def test_pickle_weights_need_the_opt_in_and_then_load_weights_only(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    folder = tiny_bert(tmp_path / "bert")
    reference = load_model(folder)
    state = {k: v.clone() for k, v in in_process(folder).module.state_dict().items()}
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(UnsafeModelError, match="pytorch_model.bin' is a pickle file.*convert the weights to safetensors"):
        load_model(folder)
    opted = load_model(folder, allow_pickle_weights=True)
    assert opted.fmt == "hf-state-dict"
    np.testing.assert_allclose(predict(opted, ["good film"]).probabilities, predict(reference, ["good film"]).probabilities, atol=1e-6)
    canary = tmp_path / "canary"
    torch.save(Canary(canary), folder / "pytorch_model.bin")
    with pytest.raises(UnsafeModelError, match="weights-only loading refused it"):
        load_model(folder, allow_pickle_weights=True)
    assert not canary.exists()


def test_safetensors_header_is_checked_before_allocation(tmp_path):
    folder = tiny_bert(tmp_path / "bert")
    weights = folder / "model.safetensors"
    raw = weights.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    name = next(k for k in header if k != "__metadata__")
    header[name]["shape"] = [2**20, 2**20]
    body = json.dumps(header).encode()
    weights.write_bytes(struct.pack("<Q", len(body)) + body + raw[8 + n:])
    with pytest.raises(ModelLoadError, match="claims 4096.0 GiB, over the 8 GiB budget"):
        load_model(folder)
    weights.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ModelLoadError, match="does not fit the file"):
        load_model(folder)
    weights.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(ModelLoadError, match="larger than the file allows"):
        load_model(folder)


def test_zip_traversal_and_links_are_refused(tmp_path, workspace):
    folder = tiny_bert(tmp_path / "bert")
    bad = zip_folder(folder, tmp_path / "bad.zip")
    with zipfile.ZipFile(bad, "a") as zf:
        zf.writestr("../../escaped.txt", "x")
    with pytest.raises(UnsafeModelError, match="points outside the archive"):
        load_model(bad)
    assert not list(tmp_path.rglob("escaped.txt"))
    linked = zip_folder(folder, tmp_path / "link.zip")
    with zipfile.ZipFile(linked, "a") as zf:
        info = zipfile.ZipInfo("model/link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeModelError, match="symbolic link"):
        load_model(linked)
    assert not (workspace / "models").exists() or not any((workspace / "models").iterdir())


def test_zip_bomb_is_stopped_by_bytes_actually_read(tmp_path, monkeypatch):
    folder = tiny_bert(tmp_path / "bert")
    bomb = zip_folder(folder, tmp_path / "bomb.zip")
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model/padding.bin", b"\0" * (64 * 2**20))
    with pytest.raises(UnsafeModelError, match="expands more than 200x"):
        load_model(bomb)
    shutil.rmtree(tmp_path / "bert")
