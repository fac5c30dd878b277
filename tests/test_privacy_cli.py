"""`train-dp` end to end on the lending demo: files written, budget kept, the program loads for auditing."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from auditkit.checkpoints.loader import load_model
from auditkit.cli import main
from auditkit.inference.runner import predict
from auditkit.privacy.accounting import epsilon_spent
from auditkit.privacy.artifacts import load_dp_weights
from models.lending import FEATURES, generate


def test_train_dp_writes_auditable_model(tmp_path, capsys):
    data = tmp_path / "lending.csv"
    generate(800, seed=2).to_csv(data, index=False)
    out = tmp_path / "dp"
    code = main(["train-dp", "--data", str(data), "--target", "approved", "--epsilon", "1", "--delta", "1e-4",
                 "--epochs", "2", "--batch-size", "64", "--hidden", "16", "--out", str(out), "--quiet"])
    assert code == 0
    assert "epsilon" in capsys.readouterr().out
    record = json.loads((out / "privacy.json").read_text())
    t = record["dp_training"]
    assert t["epsilon"] <= 1.0 and t["sampling"] == "poisson"
    assert t["epsilon"] == pytest.approx(epsilon_spent(t["noise_multiplier"], t["sample_rate"], t["steps"],
                                                       delta=1e-4))
    assert record["data"]["features"] == list(FEATURES)  # numeric columns; sex/race/age_group/split excluded
    training = record["energy"]["phases"]["training"]
    assert training["seconds"] > 0 and record["energy"]["kwh"] == pytest.approx(training["kwh"])
    assert record["data"]["split"].startswith("split column") and record["not_covered"]
    loaded = load_model(out / "model.pt2")
    assert loaded.family.kind == "tabular" and loaded.n_features == len(FEATURES)
    x = torch.tensor(generate(50, seed=9)[list(FEATURES)].to_numpy(np.float32))
    with torch.no_grad():
        want = torch.sigmoid(load_dp_weights(out / "model.safetensors")(x)).numpy()
    np.testing.assert_allclose(predict(loaded, x.numpy()).probabilities[:, 1], want, atol=1e-6)


def test_train_dp_bad_epsilon_is_one_line(tmp_path, capsys):
    data = tmp_path / "d.csv"
    generate(100, seed=2).to_csv(data, index=False)
    code = main(["train-dp", "--data", str(data), "--target", "approved", "--epsilon", "0", "--delta", "1e-4",
                 "--epochs", "1", "--out", str(tmp_path / "o")])
    assert code == 2 and "Epsilon must be a finite number > 0" in capsys.readouterr().err


def test_train_dp_text_head(tmp_path, capsys):
    import pandas as pd

    from builders import tiny_bert

    base = tiny_bert(tmp_path / "bert")
    data = tmp_path / "reviews.csv"
    pd.DataFrame({"text": [("good great film" if i % 2 else "bad awful food") for i in range(80)],
                  "label": [i % 2 for i in range(80)]}).to_csv(data, index=False)
    out = tmp_path / "dp_text"
    code = main(["train-dp", "--data", str(data), "--target", "label", "--text-column", "text", "--base-model",
                 str(base), "--epsilon", "2", "--delta", "1e-3", "--epochs", "1", "--batch-size", "16", "--out",
                 str(out), "--quiet"])
    assert code == 0
    record = json.loads((out / "privacy.json").read_text())
    assert record["dp_training"]["epsilon"] <= 2.0 and record["data"]["text_column"] == "text"
    assert record["data"]["split"].startswith("random 20%")
    loaded = load_model(out)
    assert loaded.family.kind == "text" and loaded.n_classes == 2
