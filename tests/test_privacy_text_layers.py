"""DP fine-tuning of a text classifier's top encoder layers: only they change, the budget is Opacus' own."""
from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
import torch
from opacus.accountants import RDPAccountant
from torch import nn

from auditkit.cli import main
from auditkit.errors import SettingsError
from auditkit.privacy.artifacts import save_dp_text_artifacts
from auditkit.privacy.text import _top_layers, dp_finetune_text, layer_inputs
from test_privacy_text_mia import random_texts, tiny_text_model

TRAINED = ("bert.encoder.layer.1.", "bert.pooler.", "classifier.")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    model, tok = tiny_text_model(tmp_path_factory.mktemp("bert"), dropout=0.1)
    rng = np.random.default_rng(0)
    texts = random_texts(120, rng)
    labels = np.array([("w1" in t.split()) or ("w2" in t.split()) for t in texts], dtype=int)
    return model, tok, texts, labels


def logits(model, tok, texts):
    with torch.no_grad():
        return model(**tok(texts, padding=True, return_tensors="pt")).logits


def test_cached_top_layers_reproduce_the_classifier(data):
    model, tok, texts, _ = data
    seq_len = max(len(ids) for ids in tok(texts[:9])["input_ids"]) + 3  # extra padding must not matter
    top, names, start = _top_layers(model, 1, seq_len)
    X = layer_inputs(model, tok, texts[:9], start=start, seq_len=seq_len)
    assert start == 1 and names == ("bert.encoder.layer.1", "bert.pooler", "classifier")
    assert X.shape == (9, seq_len * 33)
    torch.testing.assert_close(top(torch.from_numpy(X)), logits(model, tok, texts[:9]), rtol=1e-4, atol=1e-5)


def test_last_layer_trains_privately_and_earlier_layers_do_not_change(data, tmp_path):
    model, tok, texts, labels = data
    before = copy.deepcopy(model.state_dict())
    r = dp_finetune_text(model, tok, texts, labels, target_epsilon=2.0, target_delta=1e-4, epochs=1, batch_size=12,
                         texts_eval=texts[:20], labels_eval=labels[:20], trainable_layers=1, baseline=False,
                         curve_points=1)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    after = r.model.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    params = {n for n, _ in r.model.named_parameters()}
    assert changed == {k for k in params if k.startswith(TRAINED)}
    assert any(k.startswith("bert.encoder.layer.1.attention.self.query") for k in changed)
    assert not any(k.startswith(("bert.embeddings.", "bert.encoder.layer.0.")) for k in changed)
    assert {n for n, p in r.model.named_parameters() if p.requires_grad} == {k for k in params if k.startswith(TRAINED)}
    assert r.grad_sample_mode == "ghost" and r.n_features == 32 and r.steps == 10

    acc = RDPAccountant()
    acc.history = [(r.noise_multiplier, r.sample_rate, r.steps)]
    assert r.epsilon == pytest.approx(acc.get_epsilon(delta=1e-4), rel=1e-12) and r.epsilon <= 2.0
    assert r.sample_rate == 0.1

    # The returned classifier is the frozen bottom plus the trained top.
    seq_len = max(len(ids) for ids in tok(texts[:6])["input_ids"])
    top, _, start = _top_layers(r.model, 1, seq_len)
    X = layer_inputs(model, tok, texts[:6], start=start, seq_len=seq_len)
    torch.testing.assert_close(logits(r.model, tok, texts[:6]), top(torch.from_numpy(X)), rtol=1e-4, atol=1e-5)

    paths = save_dp_text_artifacts(r, tok, tmp_path / "dp")
    t = json.loads(paths["record"].read_text())["dp_training"]
    assert t["trainable_layers"] == 1 and t["trained_modules"] == ["bert.encoder.layer.1", "bert.pooler", "classifier"]
    assert "last 1 encoder layer (bert.encoder.layer.1" in t["trained_part"]


def test_bad_trainable_layers_are_refused(data):
    model, tok, texts, labels = data
    options = dict(target_epsilon=1.0, target_delta=1e-4, epochs=1)
    with pytest.raises(SettingsError, match="from 0 to 2"):
        dp_finetune_text(model, tok, texts, labels, trainable_layers=3, **options)
    with pytest.raises(SettingsError, match=">= 0"):
        dp_finetune_text(model, tok, texts, labels, trainable_layers=-1, **options)

    class HeadOnly(nn.Module):
        def __init__(self):
            super().__init__()
            self.classifier = nn.Linear(4, 2)

    with pytest.raises(SettingsError, match="BERT-family"):
        dp_finetune_text(HeadOnly(), tok, texts, labels, trainable_layers=1, **options)


def test_cli_trainable_layers(data, tmp_path, capsys, monkeypatch):
    import auditkit.cli.train_dp as cli

    model, tok, texts, labels = data
    base = tmp_path / "base"
    model.save_pretrained(base, safe_serialization=True)
    tok.save_pretrained(base)
    csv = tmp_path / "reviews.csv"
    pd.DataFrame({"text": texts + texts[:20], "label": np.r_[labels, labels[:20]],
                  "split": ["train"] * len(texts) + ["test"] * 20}).to_csv(csv, index=False)
    finetune = cli.dp_finetune_text  # one epsilon point and no non-private baseline keep the test short
    monkeypatch.setattr(cli, "dp_finetune_text", lambda *a, **k: finetune(*a, **k, curve_points=1, baseline=False))
    args = ["train-dp", "--data", str(csv), "--target", "label", "--epsilon", "2", "--delta", "1e-4", "--epochs",
            "1", "--batch-size", "12", "--trainable-layers", "1", "--quiet"]
    assert main(args + ["--text-column", "text", "--base-model", str(base), "--out", str(tmp_path / "o")]) == 0
    t = json.loads((tmp_path / "o" / "privacy.json").read_text())["dp_training"]
    assert t["trainable_layers"] == 1 and t["epsilon"] <= 2.0 and "bert.encoder.layer.1" in t["trained_modules"]
    assert t["n_train"] == len(texts) and t["sample_rate"] == 0.1
    capsys.readouterr()
    assert main(args + ["--out", str(tmp_path / "tab")]) == 2
    assert "--trainable-layers applies to text classifiers" in capsys.readouterr().err
