"""DP fine-tuning of a Hugging Face text classifier's head, optionally with its top encoder layers.

The frozen part runs once per text (eval mode, no gradients) and its output is cached: the head's input for
head-only training (`trainable_layers=0`), or the hidden states entering the first trained encoder layer with the
attention mask (`trainable_layers=N`: the last N encoder layers, the pooler and the head train). The trained part
is then trained on the cache with `dp_train` (DP-SGD, Poisson sampling, Opacus accounting, ghost clipping when
layers other than `nn.Linear` train). The guarantee covers the training texts: each text influences only its own
cached row, and only the trained part sees them; frozen parameters are never handed to Opacus.
Head-only training supports heads with one 2-D input [batch, hidden] (`classifier` of BERT-family models such as
MiniLM, BERT, DistilBERT); training encoder layers supports BERT-family models with a pooler (BERT, MiniLM).
"""
from __future__ import annotations

import copy
import dataclasses
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from auditkit.access import current_principal, require
from auditkit.errors import SettingsError
from auditkit.privacy.training import DPResult, Progress, dp_train
from auditkit.worker.ops import worker_op

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


class TopLayers(nn.Module):
    """The last encoder layers, pooler, dropout and head of a BERT-family classifier, run on cached inputs.

    Input: float32 [n, seq_len * (hidden + 1)]: the hidden states entering the first layer, flattened, followed by
    the attention mask (1 = token, 0 = padding). Output: the classifier's logits.
    """

    def __init__(self, layers: nn.ModuleList, pooler: nn.Module, dropout: nn.Module, classifier: nn.Module,
                 seq_len: int, hidden: int):
        super().__init__()
        self.layers, self.pooler, self.dropout, self.classifier = layers, pooler, dropout, classifier
        self.seq_len, self.hidden = seq_len, hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training and len(x) > _BATCH:
            return torch.cat([self._forward(chunk) for chunk in x.split(_BATCH)])
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        cut = self.seq_len * self.hidden
        h = x[:, :cut].reshape(len(x), self.seq_len, self.hidden)
        mask = (1.0 - x[:, cut:])[:, None, None, :] * torch.finfo(h.dtype).min
        for layer in self.layers:
            out = layer(h, attention_mask=mask)
            h = out[0] if isinstance(out, tuple) else out
        return self.classifier(self.dropout(self.pooler(h)))


def _encoder_parts(model: nn.Module) -> tuple[str, nn.Module, nn.ModuleList, nn.Module]:
    """(prefix, base model, encoder layers, pooler) of a BERT-family classifier, or SettingsError."""
    base = getattr(model, "base_model", None)
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    pooler = getattr(base, "pooler", None)
    if not isinstance(layers, nn.ModuleList) or not isinstance(pooler, nn.Module):
        raise SettingsError("Training encoder layers privately needs a BERT-family classifier (encoder layers, a "
                            "pooler and a `classifier` head, e.g. BERT or MiniLM). Fix: use trainable_layers=0 "
                            "(head only) for this model.")
    return getattr(model, "base_model_prefix", "") or "base_model", base, layers, pooler


def encoder_layer_count(model: nn.Module) -> int:
    """How many encoder layers `dp_finetune_text(trainable_layers=...)` can train: 0 when only the head can."""
    try:
        return len(_encoder_parts(model)[2])
    except SettingsError:
        return 0


def layer_inputs(model: nn.Module, tokenizer: Any, texts: Sequence[str], *, start: int, seq_len: int,
                 max_length: int = 128) -> np.ndarray:
    """The cached input of `TopLayers` for each text: float32 [n, seq_len * (hidden + 1)] (hidden states entering
    encoder layer `start`, padded to `seq_len` tokens, then the attention mask); eval mode, no gradients."""
    _, _, layers, _ = _encoder_parts(model)
    captured: list[torch.Tensor] = []

    def grab(module: nn.Module, args: tuple, kwargs: dict) -> None:
        captured.append((args[0] if args else kwargs["hidden_states"]).detach().float())

    handle = layers[start].register_forward_pre_hook(grab, with_kwargs=True)
    was_training = model.training
    model.eval()
    rows = []
    try:
        with torch.inference_mode():
            for i in range(0, len(texts), _BATCH):
                batch = tokenizer(list(texts[i:i + _BATCH]), padding="max_length", truncation=True,
                                  max_length=seq_len, return_tensors="pt")
                model(**batch)
                h = captured.pop()
                rows.append(torch.cat([h.flatten(1), batch["attention_mask"].float()], dim=1))
    finally:
        handle.remove()
        model.train(was_training)
    return torch.cat(rows).numpy()


def _top_layers(model: nn.Module, n: int, seq_len: int) -> tuple[TopLayers, tuple[str, ...], int]:
    """A copy of the trainable part (last `n` layers, pooler, dropout, head), its module names, the first layer."""
    prefix, _, layers, pooler = _encoder_parts(model)
    name, head = classifier_head(model)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 < n <= len(layers):
        raise SettingsError(f"trainable_layers must be a whole number from 0 to {len(layers)} (the number of "
                            f"encoder layers); got {n}.")
    start = len(layers) - n
    dropout = getattr(model, "dropout", None)
    top = TopLayers(copy.deepcopy(layers[start:]), copy.deepcopy(pooler),
                    copy.deepcopy(dropout) if isinstance(dropout, nn.Module) else nn.Identity(),
                    copy.deepcopy(head), seq_len, int(model.config.hidden_size)).eval()
    names = tuple(f"{prefix}.encoder.layer.{i}" for i in range(start, len(layers))) + (f"{prefix}.pooler", name)
    return top, names, start


def _check_top_layers(model: nn.Module, tokenizer: Any, top: TopLayers, texts: Sequence[str], X: np.ndarray,
                      max_length: int) -> None:
    """Refuse models whose classifier is not head(dropout(pooler(last layers))) on the cached inputs."""
    with torch.inference_mode():
        want = model(**tokenizer(list(texts), padding=True, truncation=True, max_length=max_length,
                                 return_tensors="pt")).logits.float()
        got = top(torch.from_numpy(X))
    if got.shape != want.shape or not torch.allclose(got, want, rtol=1e-3, atol=1e-4):
        raise SettingsError("This classifier does not compute its logits as head(pooler(encoder layers)), so its "
                            "top layers cannot be trained separately. Fix: use trainable_layers=0 (head only).")


def dp_finetune_text(model: nn.Module, tokenizer: Any, texts: Sequence[str], labels: Any, *, target_epsilon: float,
                     target_delta: float, epochs: int, texts_eval: Sequence[str] | None = None,
                     labels_eval: Any = None, max_length: int = 128, trainable_layers: int = 0,
                     progress: Progress | None = None, **train_options: Any) -> DPResult:
    """Fine-tune a copy of `model` with DP-SGD; `labels` are class indices. Returns the record with the whole
    classifier as `model`. `trainable_layers=0` trains the head only; N trains the head, the pooler and the last
    N encoder layers (embeddings and earlier layers frozen, with requires_grad False in the returned model).
    `train_options` go to `dp_train`."""
    name, _ = classifier_head(model)
    if isinstance(trainable_layers, bool) or not isinstance(trainable_layers, int) or trainable_layers < 0:
        raise SettingsError(f"trainable_layers must be a whole number >= 0 (0 = head only); got {trainable_layers}.")
    full = copy.deepcopy(model).eval()  # caching hooks go on this copy, never on a shared model
    if trainable_layers == 0:
        X = head_features(full, tokenizer, texts, max_length=max_length)
        X_eval = head_features(full, tokenizer, texts_eval, max_length=max_length) if texts_eval is not None else None
        trainable: nn.Module = getattr(full, name)
        names: tuple[str, ...] = (name,)
    else:
        all_texts = list(texts) + (list(texts_eval) if texts_eval is not None else [])
        seq_len = max(len(ids) for ids in tokenizer(all_texts, truncation=True, max_length=max_length)["input_ids"])
        trainable, names, start = _top_layers(full, trainable_layers, seq_len)
        X = layer_inputs(full, tokenizer, texts, start=start, seq_len=seq_len, max_length=max_length)
        X_eval = (layer_inputs(full, tokenizer, texts_eval, start=start, seq_len=seq_len, max_length=max_length)
                  if texts_eval is not None else None)
        _check_top_layers(full, tokenizer, trainable, list(texts)[:4], X[:4], max_length)
    result = dp_train(trainable, X, np.asarray(labels), target_epsilon=target_epsilon, target_delta=target_delta,
                      epochs=epochs, X_eval=X_eval, y_eval=None if labels_eval is None else np.asarray(labels_eval),
                      progress=progress, **train_options)
    if trainable_layers == 0:
        setattr(full, name, result.model)
    else:
        _, base, layers, _ = _encoder_parts(full)
        for offset, layer in enumerate(result.model.layers):
            layers[start + offset] = layer
        base.pooler = result.model.pooler
        setattr(full, name, result.model.classifier)
        trained = {id(p) for p in result.model.parameters()}
        for p in full.parameters():
            p.requires_grad_(id(p) in trained)
    n_features = result.n_features if trainable_layers == 0 else int(model.config.hidden_size)
    return dataclasses.replace(result, model=full, n_features=n_features, trainable_layers=trainable_layers,
                               trained_modules=names)


@worker_op
def dp_finetune_model(model: Any, texts: Sequence[str], labels: Any, **options: Any) -> DPResult:
    """`dp_finetune_text` on the loaded text model (worker); the trained classifier comes back as its state dict."""
    result = dp_finetune_text(model.module, model.tokenizer, texts, labels, max_length=model.max_length or 128, **options)
    state = {k: v.detach().cpu().contiguous().numpy() for k, v in result.model.state_dict().items()}
    return dataclasses.replace(result, model=state)


def dp_finetune_in_worker(model: Any, texts: Sequence[str], labels: Any, **options: Any) -> DPResult:
    """Private fine-tuning of a loaded text model (a `ModelHandle`) in its worker; the acting principal needs the
    role to run audits (checked here: the worker does not know who asked)."""
    require(current_principal(), "run")
    return model.run(dp_finetune_model, texts, labels, **options)


def safetensors_bytes(result: DPResult) -> bytes:
    """The trained weights of a DP result as a safetensors file (from the module or its state dict)."""
    from safetensors.torch import save

    state = result.model if isinstance(result.model, dict) else result.model.state_dict()
    return save({k: torch.as_tensor(v).detach().contiguous() for k, v in state.items()})
