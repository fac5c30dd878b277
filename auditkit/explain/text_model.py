"""Scoring texts with a Hugging Face sequence classifier: batched, length-sorted, on the model's device."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from auditkit.explain.base import ExplanationError, Output, module_device

NO_TOKENIZER = "This text model has no tokenizer; load the model folder with its tokenizer files."
NEEDS_FAST = ("Explanations need a fast (Rust) tokenizer to map tokens back to the text; "
              "save the model with its tokenizer.json.")


def max_tokens(module: torch.nn.Module, tokenizer: Any, max_length: int | None) -> int:
    """The model's input limit in tokens: the loaded limit, else the tokenizer's, else the position embeddings'."""
    candidates = [max_length, getattr(tokenizer, "model_max_length", None),
                  getattr(getattr(module, "config", None), "max_position_embeddings", None)]
    for c in candidates:
        if c and c < 1_000_000:
            return int(c)
    return 512


def fit_to_model(text: str, tokenizer: Any, limit: int) -> tuple[str, bool]:
    """`text` cut to the part that fits in `limit` tokens (special tokens included), and whether it was cut."""
    if not getattr(tokenizer, "is_fast", False):
        raise ExplanationError(NEEDS_FAST)
    enc = tokenizer(text, add_special_tokens=True, return_offsets_mapping=True, truncation=False)
    if len(enc["input_ids"]) <= limit:
        return text, False
    n_special = len(tokenizer("", add_special_tokens=True)["input_ids"])
    offsets = [o for o in enc["offset_mapping"] if o[1] > o[0]]
    keep = offsets[: max(1, limit - n_special)]
    return text[: keep[-1][1]], True


class TextScorer:
    """Callable: list of texts -> one float per text (the positive class's logit or probability).

    Logit: for two outputs, logit[pos] - logit[neg] (the log-odds of the positive class); for one output, the
    logit itself; for k > 2 outputs, the positive class's logit. Probability: sigmoid/softmax of the same.
    """

    def __init__(self, module: torch.nn.Module, tokenizer: Any, *, max_length: int | None = None,
                 output: Output = "logit", output_index: int = 1, batch_size: int = 128):
        if tokenizer is None:
            raise ExplanationError(NO_TOKENIZER)
        self.module = module
        self.tokenizer = tokenizer
        self.limit = max_tokens(module, tokenizer, max_length)
        self.output: Output = output
        self.output_index = output_index
        self.batch_size = batch_size
        self.device = module_device(module)

    def reduce(self, logits: torch.Tensor) -> torch.Tensor:
        """One value per row from [n, k] logits, in `self.output` units."""
        logits = logits.double()
        if logits.shape[-1] == 1:
            z = logits[:, 0]
            return z if self.output == "logit" else torch.sigmoid(z)
        if self.output == "probability":
            return torch.softmax(logits, dim=-1)[:, self.output_index]
        if logits.shape[-1] == 2:
            return logits[:, self.output_index] - logits[:, 1 - self.output_index]
        return logits[:, self.output_index]

    def __call__(self, texts: Sequence[str] | np.ndarray) -> np.ndarray:
        texts = [str(t) for t in texts]
        encoded = self.tokenizer(texts, truncation=True, max_length=self.limit)["input_ids"]
        order = np.argsort([-len(ids) for ids in encoded], kind="stable")
        out = np.empty(len(texts))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                batch = self.tokenizer.pad({"input_ids": [encoded[i] for i in idx]}, return_tensors="pt")
                logits = self.module(**{k: v.to(self.device) for k, v in batch.items()}).logits
                out[idx] = self.reduce(logits).cpu().numpy()
        return out


def positive_index(n_outputs: int, labels: Sequence[str] | None, positive_label: str) -> int:
    """Output column of the positive class: by name when the labels are known, else column 1 (or 0 for one logit)."""
    if n_outputs == 1:
        return 0
    if labels and positive_label in labels:
        return list(labels).index(positive_label)
    return 1 if n_outputs == 2 else 0

