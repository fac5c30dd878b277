"""DP fine-tuning of a Hugging Face text classifier's head.

The encoder stays frozen, so its output for each text is computed once (eval mode) and the classification head
is trained on those features with `dp_train` (DP-SGD, Poisson sampling, Opacus accounting). The guarantee covers
the training texts: each text influences only its own feature vector, and only the head sees them.
Supported heads take one 2-D input [batch, hidden] (`classifier` of BERT-family models such as MiniLM, BERT,
DistilBERT).
"""
from __future__ import annotations

import copy
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from auditkit.errors import SettingsError
from auditkit.privacy.training import DPResult, Progress, dp_train

_HEAD_NAMES = ("classifier", "score")
_BATCH = 64


def classifier_head(model: nn.Module) -> tuple[str, nn.Module]:
    """The (attribute name, module) of a sequence classifier's head."""
    for name in _HEAD_NAMES:
        head = getattr(model, name, None)
        if isinstance(head, nn.Module):
            return name, head
    raise SettingsError("This model has no `classifier` or `score` head. Fix: use a Hugging Face "
                        "AutoModelForSequenceClassification checkpoint (e.g. a BERT or MiniLM classifier).")


def head_features(model: nn.Module, tokenizer: Any, texts: Sequence[str], *, max_length: int = 128,
                  progress: Progress | None = None) -> np.ndarray:
    """The input of the classifier head for each text, float32 [n, hidden] (model in eval mode, no gradients)."""
    name, head = classifier_head(model)
    captured: list[torch.Tensor] = []

    def grab(module: nn.Module, args: tuple) -> None:
        if len(args) != 1 or args[0].dim() != 2:
            raise SettingsError(f"The `{name}` head takes inputs of shape {tuple(args[0].shape)}; DP head "
                                "fine-tuning supports heads with one [batch, hidden] input (BERT-family models).")
        captured.append(args[0].detach().float())

    handle = head.register_forward_pre_hook(grab)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), _BATCH):
                batch = tokenizer(list(texts[start:start + _BATCH]), padding=True, truncation=True,
                                  max_length=max_length, return_tensors="pt")
                model(**batch)
                if progress is not None:
                    progress(min(start + _BATCH, len(texts)), len(texts))
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(captured).numpy()


def dp_finetune_text(model: nn.Module, tokenizer: Any, texts: Sequence[str], labels: Any, *, target_epsilon: float,
                     target_delta: float, epochs: int, texts_eval: Sequence[str] | None = None,
                     labels_eval: Any = None, max_length: int = 128, progress: Progress | None = None,
                     **train_options: Any) -> DPResult:
    """Fine-tune a copy of `model`'s head with DP-SGD; `labels` are class indices. Returns the record with the
    whole classifier (frozen encoder + private head) as `model`. `train_options` go to `dp_train`."""
    name, head = classifier_head(model)
    X = head_features(model, tokenizer, texts, max_length=max_length)
    X_eval = head_features(model, tokenizer, texts_eval, max_length=max_length) if texts_eval is not None else None
    result = dp_train(head, X, np.asarray(labels), target_epsilon=target_epsilon, target_delta=target_delta,
                      epochs=epochs, X_eval=X_eval, y_eval=None if labels_eval is None else np.asarray(labels_eval),
                      progress=progress, **train_options)
    full = copy.deepcopy(model).eval()
    setattr(full, name, result.model)
    return DPResult(**{**{f: getattr(result, f) for f in result.__dataclass_fields__}, "model": full})
