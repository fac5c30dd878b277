"""Tiny datasets and models built inside tests (no downloads)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from auditkit.tabular import TabularMLP, export_tabular

WORDS = ["good", "bad", "great", "awful", "film", "food", "service", "she", "he", "was", "very", "not", "the", "a"]


def tabular_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """Two numeric features, a binary label driven by them, and two sensitive attributes."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                          "sex": rng.choice(["female", "male"], n), "race": rng.choice(["a", "b", "NA"], n)})
    frame["y"] = (frame.x1 + 0.5 * frame.x2 > 0).astype(int)
    return frame


def tabular_model(path: Path, n_features: int = 2, seed: int = 0) -> Path:
    """A fixed TabularMLP exported to .pt2 whose decision is roughly x1 + 0.5 x2 > 0."""
    torch.manual_seed(seed)
    model = TabularMLP(n_features, hidden=(8,))
    with torch.no_grad():
        model.net[0].weight.zero_()
        model.net[0].bias.zero_()
        model.net[0].weight[0, 0], model.net[0].weight[0, 1] = 1.0, 0.5
        model.net[0].weight[1, 0], model.net[0].weight[1, 1] = -1.0, -0.5
        model.net[2].weight.zero_()
        model.net[2].weight[0, 0], model.net[2].weight[0, 1] = 4.0, -4.0
        model.net[2].bias.zero_()
    return export_tabular(model, n_features, path)


def tiny_bert(folder: Path, *, layers: int = 2, num_labels: int = 2, seed: int = 0) -> Path:
    """A 2-layer BERT sequence classifier with a word-level vocab, saved with safetensors."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(vocab), do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=num_labels,
                        id2label={i: f"class_{i}" for i in range(num_labels)}, label2id={f"class_{i}": i for i in range(num_labels)})
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def text_frame(n: int = 60, seed: int = 0) -> pd.DataFrame:
    """Random short texts from the tiny vocab with labels and a sensitive attribute."""
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, rng.integers(2, 12))) for _ in range(n)]
    return pd.DataFrame({"text": texts, "label": rng.choice(["class_0", "class_1"], n), "group": rng.choice(["g1", "g2"], n)})


class Canary:
    """A pickle payload that creates a file when unpickled."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def in_process(path: Path):
    """The model at `path` loaded in the test process by its family (a reference for the worker's results; the
    app never does this: it loads models only in their worker)."""
    from auditkit.config import Settings
    from auditkit.families.registry import detect
    from auditkit.hashing import sha256_path

    path = Path(path)
    family = detect(path)
    sha = sha256_path(path)
    settings = Settings.from_env()
    return family.load(family.prepare(path, sha, settings), sha, settings)
