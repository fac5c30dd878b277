"""Attention maps of a text classifier for one example: per layer and head, and attention rollout.

Attention weights are only returned by the eager attention implementation. Switching implementation changes the
model, so a private deep copy with eager attention is made (once per shared model, kept while the model lives);
the shared model keeps its fast attention.
"""
from __future__ import annotations

import copy
import threading
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from auditkit.explain.base import ExplanationError, module_device
from auditkit.explain.text_model import fit_to_model, max_tokens
from auditkit.worker.codec import transferable

NO_ATTENTIONS = ("This model returned no attention weights; attention maps need a transformer classifier that "
                 "supports output_attentions.")

_eager: "weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


@transferable
@dataclass(frozen=True)
class AttentionMaps:
    """`attentions[layer, head, i, j]`: how much token i attends to token j; `rollout[i, j]` across all layers."""

    tokens: tuple[str, ...]
    attentions: np.ndarray
    rollout: np.ndarray
    truncated: bool

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": list(self.tokens), "attentions": self.attentions.tolist(),
                "rollout": self.rollout.tolist(), "truncated": self.truncated}


def eager_copy(module: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of `module` with eager attention (cached per module); `module` itself is not changed."""
    with _lock:
        if module not in _eager:
            clone = copy.deepcopy(module).eval()
            if hasattr(clone, "set_attn_implementation"):
                clone.set_attn_implementation("eager")
            else:
                clone.config._attn_implementation = "eager"
            _eager[module] = clone
        return _eager[module]


def attention_rollout(attentions: np.ndarray) -> np.ndarray:
    """Abnar & Zuidema (2020): average heads, add the residual (identity), renormalise rows, multiply over layers."""
    n = attentions.shape[-1]
    rollout = np.eye(n)
    for layer in attentions:
        a = layer.mean(axis=0) + np.eye(n)
        a = a / a.sum(axis=-1, keepdims=True)
        rollout = a @ rollout
    return rollout


def attention_maps(module: torch.nn.Module, tokenizer: Any, text: str, *,
                   max_length: int | None = None) -> AttentionMaps:
    """Per-layer, per-head attention of `text` (cut to the model's limit, flagged) and its rollout."""
    limit = max_tokens(module, tokenizer, max_length)
    text, truncated = fit_to_model(text, tokenizer, limit)
    eager = eager_copy(module)
    enc = tokenizer([text], truncation=True, max_length=limit, return_tensors="pt")
    device = module_device(eager)
    with torch.inference_mode():
        out = eager(**{k: v.to(device) for k, v in enc.items()}, output_attentions=True)
    if not out.attentions:
        raise ExplanationError(NO_ATTENTIONS)
    att = torch.stack([a[0] for a in out.attentions]).double().cpu().numpy()
    tokens = tuple(tokenizer.convert_ids_to_tokens(enc["input_ids"][0].tolist()))
    return AttentionMaps(tokens=tokens, attentions=att, rollout=attention_rollout(att), truncated=truncated)
