"""DP fine-tuning of a text classifier's head: cached features are the head's input; only the head changes."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from auditkit.errors import SettingsError
from auditkit.privacy.accounting import epsilon_spent
from auditkit.privacy.text import dp_finetune_text, head_features
from builders import tiny_bert

TEXTS = [("good great film" if i % 2 else "bad awful food") + " the" * (i % 3) for i in range(120)]
LABELS = np.arange(120) % 2


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tiny_bert(tmp_path_factory.mktemp("bert"))
    return AutoModelForSequenceClassification.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)


def logits(model, tokenizer, texts):
    with torch.no_grad():
        return model(**tokenizer(texts, padding=True, truncation=True, return_tensors="pt")).logits


def test_head_features_are_the_head_input(bert):
    model, tok = bert
    feats = head_features(model, tok, TEXTS[:10])
    assert feats.shape == (10, model.config.hidden_size)
    with torch.no_grad():
        torch.testing.assert_close(model.classifier(torch.from_numpy(feats)), logits(model, tok, TEXTS[:10]))
    assert not model.classifier._forward_pre_hooks


def test_dp_finetune_changes_only_a_copy_of_the_head(bert):
    model, tok = bert
    before = copy.deepcopy(model.state_dict())
    r = dp_finetune_text(model, tok, TEXTS, LABELS, target_epsilon=2.0, target_delta=1e-4, epochs=2,
                         batch_size=30, texts_eval=TEXTS[:20], labels_eval=LABELS[:20], baseline=False,
                         curve_points=1)
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    after = r.model.state_dict()
    changed = {k for k in after if not torch.equal(after[k], before[k])}
    assert changed == {"classifier.weight", "classifier.bias"}
    assert r.epsilon == pytest.approx(epsilon_spent(r.noise_multiplier, r.sample_rate, r.steps, delta=1e-4))
    assert r.epsilon <= 2.0 and r.steps == 8 and r.n_features == model.config.hidden_size
    feats = torch.from_numpy(head_features(model, tok, TEXTS[:5]))
    with torch.no_grad():
        torch.testing.assert_close(logits(r.model, tok, TEXTS[:5]), r.model.classifier(feats))


def test_head_with_sequence_input_is_refused():
    class SeqHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.classifier = nn.Linear(4, 2)

        def forward(self, input_ids, attention_mask=None):
            return self.classifier(torch.ones(input_ids.shape[0], input_ids.shape[1], 4))

    def tokenizer(texts, **_):
        return {"input_ids": torch.zeros(len(texts), 3, dtype=torch.long)}

    with pytest.raises(SettingsError, match="one \\[batch, hidden\\] input"):
        head_features(SeqHead(), tokenizer, ["a", "b"])
    with pytest.raises(SettingsError, match="no `classifier` or `score` head"):
        head_features(nn.Linear(2, 2), tokenizer, ["a"])
