"""Model families are a registry, and every model runs in its contained worker.

This module is also a plug-in (`AUDITKIT_PLUGINS=<its module name>`): importing it registers two
families defined here, so the model worker and the CLI find them too. `npz-linear` is a NumPy linear model read
from a .npz (no other file of AuditKit knows it); `hostile-test` is a model that, once loaded, tries to act.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from auditkit import AuditSpec
from auditkit.audit import run_audit
from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.explain.base import ExplanationError
from auditkit.families.base import ModelFamily, ModelInfo
from auditkit.families.registry import families, register
from auditkit.hashing import sha256_file
from auditkit.inference.runner import predict
from auditkit.worker.ops import worker_op
from tests.builders import tabular_frame

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = __name__  # as pytest imported it; the worker imports it under the same name
HOSTILE_MAGIC = b"HOSTILE-TEST-MODEL\n"


class NpzLinear(ModelFamily):
    """logit = x @ weights + bias, from a .npz holding exactly weights.npy and bias.npy (loaded without pickle)."""

    name, kind, input_role = "npz-linear", "tabular", "features"
    description = "a .npz with weights.npy and bias.npy (a linear model)"
    batch_sizes = {"cpu": 4096}
    membership_rows, membership_from_predictions = 1000, False

    def sniff(self, path: Path) -> bool:
        if not path.is_file() or not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            return sorted(zf.namelist()) == ["bias.npy", "weights.npy"]

    def load(self, path: Path, sha256: str, settings: Settings, **options: Any) -> dict:
        with np.load(path, allow_pickle=False) as z:
            return {"w": z["weights"].astype(np.float32), "b": np.float32(z["bias"]), "sha256": sha256}

    def info(self, model: dict) -> ModelInfo:
        return ModelInfo(self.name, model["sha256"], "npz", 1, n_features=len(model["w"]), parameters=len(model["w"]) + 1)

    def forward(self, model: dict, inputs: Any, *, batch_size: int, device: str, progress: Any) -> np.ndarray:
        x = np.asarray(inputs, dtype=np.float32)
        out = [x[i:i + batch_size] @ model["w"] + model["b"] for i in range(0, len(x), batch_size)]
        if progress:
            progress(len(x), len(x))
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def membership(self, model: dict, members: Any, y_members: np.ndarray, nonmembers: Any, y_nonmembers: np.ndarray,
                   **options: Any) -> Any:
        import torch

        from auditkit.privacy.membership import membership_audit

        linear = torch.nn.Linear(len(model["w"]), 1)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(model["w"])[None])
            linear.bias.fill_(float(model["b"]))
        return membership_audit(torch.nn.Sequential(linear, torch.nn.Flatten(0)), members, y_members, nonmembers,
                                y_nonmembers, **options)

    def explain(self, ctx: Any, *, max_rows: int | None = None) -> Any:
        raise ExplanationError("npz-linear models have no explanation method yet.")


class HostileModel(NpzLinear):
    """A model that got past every check: once loaded, it tries to write, read secrets and reach the network."""

    name, description = "hostile-test", "a hostile test model"

    def sniff(self, path: Path) -> bool:
        return path.is_file() and path.read_bytes().startswith(HOSTILE_MAGIC)

    def load(self, path: Path, sha256: str, settings: Settings, **options: Any) -> dict:
        targets = json.loads(path.read_bytes()[len(HOSTILE_MAGIC):])
        return {"w": np.ones(2, np.float32), "b": np.float32(0), "sha256": sha256, "targets": targets,
                "attempts": _attempts(targets)}


def _attempts(targets: dict) -> dict[str, str]:
    """Try each action; record what happened."""
    def attempt(fn: Any) -> str:
        try:
            fn()
            return "done"
        except Exception as e:  # the outcome is the result
            return f"refused: {type(e).__name__}"

    def write_canary() -> None:
        Path(targets["canary"]).write_text("escaped")

    def overwrite_victim() -> None:
        with open(targets["victim"], "r+b") as f:
            f.write(b"XX")

    def read_secret() -> None:
        Path(targets["secret"]).read_bytes()

    def connect() -> None:
        with socket.create_connection(("127.0.0.1", targets["port"]), timeout=2):
            pass

    def write_scratch() -> None:
        Path("scratch-file").write_text("allowed")

    return {"canary": attempt(write_canary), "victim": attempt(overwrite_victim), "secret": attempt(read_secret),
            "network": attempt(connect), "scratch": attempt(write_scratch)}


@worker_op
def attempts(model: dict) -> dict[str, str]:
    """What the hostile model's attempts came to (worker)."""
    return model["attempts"]


register(NpzLinear())
register(HostileModel())


@pytest.fixture
def plugin(monkeypatch):
    monkeypatch.setenv("AUDITKIT_PLUGINS", PLUGIN)


def _npz(path: Path, weights: list[float], bias: float) -> Path:
    np.savez(path, weights=np.asarray(weights, np.float32), bias=np.float32(bias))
    return path


def test_a_family_defined_here_loads_and_predicts_in_its_worker(tmp_path, plugin):
    model = load_model(_npz(tmp_path / "linear.npz", [1.0, 0.5], -0.25))
    assert (model.family.name, model.fmt, model.n_features, model.n_classes) == ("npz-linear", "npz", 2, 2)
    x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0]], np.float32)
    p = predict(model, x).probabilities[:, 1]
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-(x @ [1.0, 0.5] - 0.25))), rtol=1e-6)
    assert "landlock" in " ".join(model.protections["applied"]) or model.protections["missing"]


def test_a_whole_audit_of_the_new_family_through_the_api_and_the_cli(tmp_path, plugin):
    data = tmp_path / "data.csv"
    frame = tabular_frame(400).assign(split=lambda f: np.where(np.arange(len(f)) % 2, "train", "test"))
    frame.to_csv(data, index=False)
    model = _npz(tmp_path / "linear.npz", [1.0, 0.5], 0.0)
    spec = AuditSpec(target="y", sensitive=("sex",), features=("x1", "x2"), positive_label="1")
    audit, ctx = run_audit(str(data), spec, model=str(model))
    expected = (frame.x1 + 0.5 * frame.x2 > 0).astype(int).astype(str).to_numpy()
    assert (ctx.y_pred == expected).all() and audit["predictions"]["accuracy"] == 1.0
    assert audit["inputs"]["model_kind"] == "tabular" and audit["inputs"]["model_format"] == "npz"
    assert audit["explanations"] == {"error": "npz-linear models have no explanation method yet."}
    attack = audit["privacy"]["membership_inference"]
    assert attack["n_members"] == 200 and attack["n_nonmembers"] == 200 and 0.4 < attack["auc"] < 0.6  # no overfitting
    out = tmp_path / "out"
    env = {**os.environ, "AUDITKIT_PLUGINS": "tests.test_model_families", "AUDITKIT_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-m", "auditkit", "audit", "--data", str(data), "--model", str(model),
                             "--target", "y", "--sensitive", "sex", "--features", "x1,x2", "--out", str(out),
                             "--exit-zero", "--quiet"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    cli = json.loads((out / "audit.json").read_text())
    assert cli["predictions"]["accuracy"] == 1.0 and cli["inputs"]["model_format"] == "npz"
    assert cli["fairness"]["sex"] == json.loads(json.dumps(audit["fairness"]["sex"]))


def test_a_model_that_acts_is_contained_by_its_worker(tmp_path, plugin):
    """Layer 2 on its own: a model past every format check cannot write outside its scratch folder, read the
    workspace, or reach the network; the app gets only its answers."""
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"original")
    secret = Settings.from_env().path() / "trail.key"
    secret.write_bytes(b"secret")
    server = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    targets = {"canary": str(tmp_path / "canary"), "victim": str(victim), "secret": str(secret),
               "port": server.getsockname()[1]}
    path = tmp_path / "hostile.model"
    path.write_bytes(HOSTILE_MAGIC + json.dumps(targets).encode())
    model = load_model(path)
    applied = " ".join(model.protections["applied"])
    if "landlock" not in applied:
        pytest.skip(f"no Landlock on this machine: {model.protections['missing']}")
    outcome = model.run(attempts)
    assert outcome == {"canary": "refused: PermissionError", "victim": "refused: PermissionError",
                       "secret": "refused: PermissionError", "network": outcome["network"], "scratch": "done"}
    assert outcome["network"].startswith("refused")
    assert not (tmp_path / "canary").exists() and victim.read_bytes() == b"original"
    server.close()


def test_families_are_tried_in_registration_order_and_unknown_files_name_every_family(tmp_path, plugin):
    names = [f.name for f in families()]
    assert names[:2] == ["pt2", "hf-text"] and {"npz-linear", "hostile-test"} <= set(names)
    unknown = tmp_path / "model.bin"
    unknown.write_bytes(b"\x00" * 64)
    from auditkit.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="is not a supported checkpoint. Fix: upload a .pt2 file") as e:
        load_model(unknown)
    assert "a .npz with weights.npy and bias.npy" in str(e.value)
    assert sha256_file(unknown)  # the file is untouched and readable
