"""Membership inference on a text classifier: an overfit tiny BERT leaks, numbers equal sklearn on the losses."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.inference.runner import predict
from auditkit.markup import plain
from auditkit.privacy.membership import (
    logit_loss_and_confidence, membership_audit_text, probability_loss_and_confidence, text_logits,
)
from auditkit.privacy.section import privacy_report

N = 24  # members and non-members each
VOCAB = [f"w{i}" for i in range(100)]


def tiny_text_model(folder: Path, *, layers: int = 2, seed: int = 0, dropout: float = 0.0):
    """A BERT sequence classifier (hidden size 32) and its word-level tokenizer over VOCAB."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *VOCAB]) + "\n")
    tok = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, hidden_dropout_prob=dropout,
                        attention_probs_dropout_prob=dropout)
    return BertForSequenceClassification(config).eval(), tok


def random_texts(n: int, rng: np.random.Generator) -> list[str]:
    return [" ".join(rng.choice(VOCAB, rng.integers(3, 9))) for _ in range(n)]


@pytest.fixture(scope="module")
def overfit(tmp_path_factory):
    """A tiny BERT trained to memorise random labels of the member texts."""
    model, tok = tiny_text_model(tmp_path_factory.mktemp("bert"))
    rng = np.random.default_rng(3)
    members, nonmembers = random_texts(N, rng), random_texts(N, rng)
    y_m, y_n = rng.integers(0, 2, N), rng.integers(0, 2, N)
    batch = tok(members, padding=True, return_tensors="pt")
    assert (batch["input_ids"] > 4).sum() > 3 * N  # words are in the vocabulary, not [UNK]
    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(40):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(**batch).logits, torch.tensor(y_m)).backward()
        opt.step()
    return model.eval(), tok, members, y_m, nonmembers, y_n


def direct_losses(model, tok, texts, y) -> np.ndarray:
    with torch.no_grad():
        z = model(**tok(texts, padding=True, return_tensors="pt")).logits.double()
    return torch.nn.functional.cross_entropy(z, torch.tensor(y), reduction="none").numpy()


def test_batched_logits_equal_one_padded_batch(overfit):
    model, tok, members, *_ = overfit
    with torch.no_grad():
        want = model(**tok(members, padding=True, return_tensors="pt")).logits
    torch.testing.assert_close(text_logits(model, tok, members, batch_size=5), want, rtol=1e-5, atol=1e-5)


def test_overfit_text_model_leaks_and_matches_sklearn(overfit):
    model, tok, members, y_m, nonmembers, y_n = overfit
    groups = pd.DataFrame({"group": np.tile(["g1", "g2"], N)})
    r = membership_audit_text(model, tok, members, y_m, nonmembers, y_n, sensitive=groups, batch_size=7)
    loss = next(a for a in r.attacks if a.attack == "loss")
    labels = np.r_[np.ones(N), np.zeros(N)]
    # the losses the audit ranks (same batches: padding moves the last float bits, enough to swap a near tie)
    losses, _ = logit_loss_and_confidence(text_logits(model, tok, members + nonmembers, batch_size=7), np.r_[y_m, y_n])
    direct = np.r_[direct_losses(model, tok, members, y_m), direct_losses(model, tok, nonmembers, y_n)]
    np.testing.assert_allclose(losses, direct, rtol=1e-4, atol=1e-6)
    assert loss.auc == pytest.approx(roc_auc_score(labels, -losses), abs=1e-12)
    assert loss.auc > 0.7 and r.auc >= loss.auc and r.advantage > 0.4
    assert {a.attack for a in r.attacks} == {"loss", "calibrated"} and r.n_members == r.n_nonmembers == N
    g = groups["group"].to_numpy()
    for res in (x for x in r.groups if x.attack == "loss"):
        sel = g == res.group
        assert res.n_members == res.n_nonmembers == 12
        assert res.auc == pytest.approx(roc_auc_score(labels[sel], -losses[sel]), abs=1e-12)
    assert {x.group for x in r.groups} == {"g1", "g2"}
    assert any("TF-IDF" in n for n in r.notes)


def test_losses_from_probabilities_keep_their_precision():
    z = torch.tensor([[0.0, 1.0], [3.0, -2.0], [25.0, 0.0], [-1.0, 40.0]], dtype=torch.float64)
    y = np.array([1, 0, 0, 0])
    want_loss, want_phi = logit_loss_and_confidence(z, y)
    probs = torch.softmax(z.float(), 1).numpy()  # float32, as cached predictions are
    assert probs[2, 0] == 1.0  # p_y itself has lost the loss of row 2
    loss, phi = probability_loss_and_confidence(probs, y)
    np.testing.assert_allclose(loss, want_loss, rtol=1e-5)
    np.testing.assert_allclose(phi, want_phi, rtol=1e-5)


def test_untrained_text_model_does_not_leak(tmp_path):
    model, tok = tiny_text_model(tmp_path / "bert", seed=1)
    rng = np.random.default_rng(5)
    texts, y = random_texts(200, rng), rng.integers(0, 2, 200)
    r = membership_audit_text(model, tok, texts[:100], y[:100], texts[100:], y[100:])
    loss = next(a for a in r.attacks if a.attack == "loss")
    assert abs(loss.auc - 0.5) < 0.12


def _text_context(frame: pd.DataFrame, sensitive: tuple[str, ...], model, tok, tmp_path) -> AuditContext:
    """An audit context of the two-class text model on `frame` (labels are also the predictions), the model saved
    as a Hugging Face folder and loaded in its worker."""
    folder = tmp_path / "bert-classes"
    model.config.id2label, model.config.label2id = {0: "class_0", 1: "class_1"}, {"class_0": 0, "class_1": 1}
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    spec = AuditSpec(target="label", sensitive=sensitive, features=(), text_column="text")
    settings = Settings(home=tmp_path / "home")
    y_true = frame["label"].to_numpy(dtype=str)
    return AuditContext(spec, frame, "d" * 64, y_true, y_true, None, ("class_0", "class_1"), settings,
                        model=load_model(folder, settings=settings))


def test_section_runs_text_mia_on_split_rows(overfit, tmp_path):
    model, tok, members, y_m, nonmembers, y_n = overfit
    frame = pd.DataFrame({"text": members + nonmembers, "label": [f"class_{v}" for v in np.r_[y_m, y_n]],
                          "group": np.tile(["g1", "g2"], N), "split": ["train"] * N + ["test"] * N})
    ctx = _text_context(frame, ("group",), model, tok, tmp_path)
    spec, loaded, y_true = ctx.spec, ctx.model, ctx.y_true
    s = privacy_report(ctx).to_dict()
    mia = s["membership_inference"]
    want = membership_audit_text(model, tok, members, y_m, nonmembers, y_n, sensitive=frame[["group"]],
                                 max_length=32).to_dict()
    assert mia["model_kind"] == "text" and mia["n_members"] == N and mia["n_nonmembers"] == N
    assert mia["auc"] == pytest.approx(want["auc"]) and s["membership_inference_auc"] == mia["auc"] > 0.7
    assert mia["groups"] == want["groups"] and mia["groups"]
    assert mia["outputs"] == "model logits"
    preds = predict(loaded, frame["text"].tolist(), batch_size=16, device="cpu")
    cached = AuditContext(spec, frame, "d" * 64, y_true, y_true, None, ("class_0", "class_1"), Settings(home=tmp_path),
                          model=loaded, predictions=preds)
    from_cache = privacy_report(cached).to_dict()["membership_inference"]
    assert from_cache["outputs"] == "the audit's predictions"
    assert from_cache["auc"] == membership_audit_text(model, tok, members, y_m, nonmembers, y_n,
                                                      probabilities=preds.probabilities).auc
    assert from_cache["auc"] == pytest.approx(mia["auc"], abs=0.01)
    no_split = AuditContext(spec, frame.drop(columns=["split"]), "d" * 64, y_true, y_true, None,
                            ("class_0", "class_1"), Settings(home=tmp_path), model=loaded)
    assert "split" in privacy_report(no_split).membership_inference.reason


def test_page_shows_text_leakage_and_trains_top_layers(overfit, tmp_path, monkeypatch):
    import auditkit.privacy.text as text
    from streamlit.testing.v1 import AppTest

    model, tok, members, y_m, nonmembers, y_n = overfit
    frame = pd.DataFrame({"text": members + nonmembers, "label": [f"class_{v}" for v in np.r_[y_m, y_n]],
                          "split": ["train"] * N + ["test"] * N})
    ctx = _text_context(frame, (), model, tok, tmp_path)
    attack = privacy_report(ctx).attack  # kept on the context: the page shows this result
    finetune = text.dp_finetune_text  # one epsilon point and no non-private baseline keep the test short
    monkeypatch.setattr(text, "dp_finetune_text", lambda *a, **k: finetune(*a, **k, curve_points=1, baseline=False))
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages" / "privacy.py"), default_timeout=60)
    at.session_state["audit_context"] = ctx
    at.session_state["privacy_tab"] = "Membership inference"
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Attack AUC"] == f"{attack.auc:.3f}"
    notes = [plain(n) for n in attack.notes]  # the attack's notes, shown as written
    assert any("TF-IDF" in n for n in attack.notes) and set(notes) <= {c.value for c in at.caption}
    at.session_state["privacy_tab"] = "Train privately"
    at.run()
    layers = next(n for n in at.number_input if n.label == "Trainable encoder layers")
    assert layers.max == 2 and not any(b.label == "Run the privacy-utility sweep" for b in at.button)
    layers.set_value(1)
    next(n for n in at.number_input if n.label == "Epochs").set_value(1)
    next(n for n in at.number_input if n.label == "Batch size (expected)").set_value(8)
    [b for b in at.selectbox if b.label == "Accountant"][-1].set_value("gdp")  # the training form's; analytic, fast
    next(b for b in at.button if b.label == "Train at this epsilon").click().run()
    assert not at.exception
    [job] = [j for (name, _), j in at.session_state["privacy_jobs"].items() if name == "train"]
    assert job.wait(timeout=120) and job.result is not None
    at.run()
    assert not at.exception
    assert job.result.trained_modules == ("bert.encoder.layer.1", "bert.pooler", "classifier")
    assert job.result.accountant == "gdp" and job.result.n_train == N
    assert any("bert" in c.value and "layer" in c.value for c in at.caption)
    assert float(next(m.value for m in at.metric if m.label == "Epsilon (ε)")) <= 2.0


@pytest.mark.gpu
def test_text_mia_on_gpu_matches_cpu(overfit):
    model, tok, members, y_m, nonmembers, y_n = overfit
    torch.testing.assert_close(text_logits(model, tok, members, device="cuda"),
                               text_logits(model, tok, members, device="cpu"), rtol=1e-4, atol=1e-4)
    assert next(model.parameters()).device.type == "cpu"  # the shared model is never moved
    gpu = membership_audit_text(model, tok, members, y_m, nonmembers, y_n, device="cuda")
    cpu = membership_audit_text(model, tok, members, y_m, nonmembers, y_n, device="cpu")
    assert gpu.auc == pytest.approx(cpu.auc, abs=0.02)
