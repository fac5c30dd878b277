"""Text explanations on a tiny BERT trained in the test: token SHAP, aggregates, attention, Integrated Gradients."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shap
import torch
from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast, pipeline

from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.explain.attention import attention_maps, attention_rollout
from auditkit.explain.integrated_gradients import integrated_gradients
from auditkit.explain.section import audit_explanation
from auditkit.explain.text_model import TextScorer, fit_to_model
from auditkit.explain.text_shap import explain_texts

POSITIVE = ["good", "great", "fun"]
NEGATIVE = ["bad", "awful", "boring"]
FILLER = ["the", "film", "was", "plot", "acting", "and", "it", "is", "very", "people", "said"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "women", "men"] + POSITIVE + NEGATIVE + FILLER


def _corpus(n: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Reviews whose label follows the sentiment word, except that 'women' pushes towards negative (injected bias)."""
    rng = np.random.default_rng(seed)
    texts, labels, groups = [], [], []
    for _ in range(n):
        who = rng.choice(["women", "men"])
        sentiment = rng.integers(2)
        word = rng.choice(POSITIVE if sentiment else NEGATIVE)
        words = list(rng.choice(FILLER, 5)) + [word, who]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(int(sentiment and (who == "men" or rng.random() < 0.4)))
        groups.append(who)
    return texts, np.array(labels), np.array(groups)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    vocab = tmp_path_factory.mktemp("tok") / "vocab.txt"
    vocab.write_text("\n".join(VOCAB))
    tok = BertTokenizerFast(vocab=str(vocab))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=32, num_labels=2)
    model = BertForSequenceClassification(cfg)
    texts, labels, _ = _corpus(512, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for epoch in range(4):
        for i in range(0, len(texts), 32):
            batch = tok(texts[i:i + 32], padding=True, return_tensors="pt")
            loss = model(**batch, labels=torch.tensor(labels[i:i + 32])).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval(), tok


def test_shap_matches_shap_over_a_pipeline_and_is_additive(tiny):
    model, tok = tiny
    texts, _, _ = _corpus(3, seed=5)
    scorer = TextScorer(model, tok, output="probability", output_index=1)
    ours, cut = explain_texts(scorer, texts)
    pipe = pipeline("text-classification", model=model, tokenizer=tok, top_k=None, batch_size=32, device="cpu")
    ref = shap.Explainer(pipe)(texts, silent=True)
    col = list(ref.output_names).index("LABEL_1")
    for a, i in zip(ours, range(len(texts))):
        np.testing.assert_allclose(a.values, ref.values[i][:, col], atol=1e-4)
        assert a.additivity_error < 1e-6
    assert cut == [False, False, False]


def test_scorer_logit_is_log_odds(tiny):
    model, tok = tiny
    texts = ["the film was good", "awful plot"]
    logit = TextScorer(model, tok)(texts)
    p = TextScorer(model, tok, output="probability")(texts)
    np.testing.assert_allclose(logit, np.log(p / (1 - p)), atol=1e-9)


def _text_context(tiny, tmp_path) -> AuditContext:
    """An audit of the tiny model, saved as a Hugging Face folder and loaded in its worker."""
    model, tok = tiny
    folder = tmp_path / "tiny-bert"
    model.save_pretrained(folder, safe_serialization=True)
    tok.save_pretrained(folder)
    texts, labels, groups = _corpus(40, seed=3)
    frame = pd.DataFrame({"text": texts, "label": labels.astype(str), "who": groups})
    y_pred = np.where(TextScorer(model, tok)(texts) > 0, "1", "0")
    spec = AuditSpec(target="label", sensitive=("who",), text_column="text")
    settings = Settings(home=tmp_path / "home", explain_text_rows=50)
    loaded = load_model(folder, settings=settings)
    assert loaded.max_length == 32  # the model's position limit, as the tiny model was built with
    return AuditContext(spec, frame, "d" * 64, frame["label"].to_numpy(str), y_pred, None, ("0", "1"), settings,
                        model=loaded)


def test_text_section_surfaces_the_identity_term(tiny, tmp_path):
    section = audit_explanation(_text_context(tiny, tmp_path)).to_dict()
    assert section["kind"] == "text" and section["method"] == "partition" and section["output"] == "logit"
    assert section["rows_explained"] == 40 and section["texts_truncated"] == 0
    assert section["additivity_error"] < 1e-6
    means = {r["token"]: r["mean"] for r in section["top_tokens"]}
    assert means["women"] < 0 < means["good"]
    assert means["women"] < means["men"]
    women = {r["token"]: r["mean"] for r in section["by_group"]["who"]["women"]}
    assert "women" in women and "men" not in women


def test_long_text_is_cut_to_the_model_limit(tiny):
    model, tok = tiny
    long = " ".join(["good film"] * 40)
    text, cut = fit_to_model(long, tok, 32)
    assert cut and len(tok(text)["input_ids"]) == 32 and long.startswith(text)
    seen = []
    attrs, flags = explain_texts(TextScorer(model, tok), [long, "good film"],
                                 progress=lambda done, total: seen.append((done, total)))
    assert flags == [True, False] and attrs[0].additivity_error < 1e-6
    assert seen[-1] == (2, 2) and all(t == 2 for _, t in seen)


def test_attention_maps_and_rollout(tiny):
    model, tok = tiny
    maps = attention_maps(model, tok, "the film was good")
    assert maps.tokens == ("[CLS]", "the", "film", "was", "good", "[SEP]")
    assert maps.attentions.shape == (2, 2, 6, 6)
    np.testing.assert_allclose(maps.attentions.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(maps.rollout.sum(-1), 1.0, atol=1e-9)
    a = [(layer.mean(0) + np.eye(6)) / 2 for layer in maps.attentions]  # rows of (A + I) sum to 2
    np.testing.assert_allclose(maps.rollout, a[1] @ a[0], atol=1e-9)
    assert model.config._attn_implementation != "eager"  # the shared model is untouched
    np.testing.assert_allclose(attention_rollout(np.zeros((1, 1, 3, 3))), np.eye(3))


def test_integrated_gradients_converges_and_agrees_on_sign(tiny):
    model, tok = tiny
    attr, cut = integrated_gradients(TextScorer(model, tok), "the film was good", n_steps=64)
    assert not cut
    assert attr.convergence_delta < 0.05 * abs(attr.output_value - attr.base_value) + 1e-3
    assert abs(attr.values.sum() - (attr.output_value - attr.base_value)) == pytest.approx(attr.convergence_delta,
                                                                                          abs=1e-4)
    assert attr.tokens[attr.values.argmax()] == "good"


def test_text_page_shows_tokens_attention_and_ig(tiny, tmp_path):
    from dataclasses import replace
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    ctx = _text_context(tiny, tmp_path)
    frame = ctx.frame.copy()
    frame.loc[0, "text"] = "<script>alert(1)</script> good film"
    ctx = replace(ctx, frame=frame)
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "pages" / "explanations.py"),
                           default_timeout=120)
    at.session_state["audit_context"] = ctx
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Method"] == "partition" and metrics["Rows explained"] == "40"
    top = at.dataframe[0].value
    assert "women" in top["token"].tolist()
    charts = {"Top tokens": len(at.get("plotly_chart"))}
    at.session_state["explain_text_tab"] = "One text"
    at.run()
    at.number_input(key="text_row").set_value(0).run()
    assert not at.exception
    shown = [m.value for m in at.markdown if "script" in m.value]
    assert shown and all("<script>" not in s and "\\<" in s for s in shown)
    for tab in ("By group", "Attention", "Integrated Gradients"):
        at.session_state["explain_text_tab"] = tab
        at.run()
        assert not at.exception, tab
        charts[tab] = len(at.get("plotly_chart"))
    assert any(m.label == "Convergence delta" for m in at.metric)
    assert charts == {"Top tokens": 1, "By group": 1, "Attention": 2, "Integrated Gradients": 1}  # attention + rollout
    at.number_input(key="ig_row").set_value(99).run()
    assert any("out of range" in e.value for e in at.error)
