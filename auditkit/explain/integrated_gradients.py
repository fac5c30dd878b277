"""Integrated Gradients (Captum) on the input embeddings of a text classifier, with the convergence delta.

The word embeddings are computed once and passed as `inputs_embeds`, so Captum integrates over the same
quantity as `LayerIntegratedGradients` on the word-embedding layer, without placing hooks on the shared model.
The baseline keeps the special tokens ([CLS], [SEP]) and replaces every other token by padding.
"""
from __future__ import annotations

import torch

from auditkit.explain.base import ExplanationError, TokenAttribution, module_device
from auditkit.explain.text_model import TextScorer, fit_to_model

NO_EMBEDDINGS = ("Integrated Gradients needs a model that accepts inputs_embeds and exposes its input embeddings; "
                 "this one does not.")
NO_GRADIENTS = "The model's output carries no gradient, so Integrated Gradients cannot run on it."


def integrated_gradients(scorer: TextScorer, text: str, *, n_steps: int = 50) -> tuple[TokenAttribution, bool]:
    """Token attributions (embedding attributions summed over the hidden dimension) and whether `text` was cut."""
    from captum.attr import IntegratedGradients

    module, tok = scorer.module, scorer.tokenizer
    text, truncated = fit_to_model(text, tok, scorer.limit)
    enc = tok([text], truncation=True, max_length=scorer.limit, return_tensors="pt")
    device = module_device(module)
    ids = enc["input_ids"].to(device)
    mask = enc["attention_mask"].to(device)
    special = torch.tensor(tok.get_special_tokens_mask(ids[0].tolist(), already_has_special_tokens=True),
                           dtype=torch.bool, device=device)
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else 0
    base_ids = torch.where(special, ids[0], torch.full_like(ids[0], pad_id))[None]
    try:
        embed = module.get_input_embeddings()
    except (AttributeError, NotImplementedError) as exc:
        raise ExplanationError(NO_EMBEDDINGS) from exc
    with torch.no_grad():
        x, baseline = embed(ids).detach(), embed(base_ids).detach()

    def forward(e: torch.Tensor) -> torch.Tensor:
        out = module(inputs_embeds=e, attention_mask=mask.expand(e.shape[0], -1)).logits
        return scorer.reduce(out).to(e.dtype)

    with torch.enable_grad():
        probe = forward(x.clone().requires_grad_(True))
        if not probe.requires_grad:
            raise ExplanationError(NO_GRADIENTS)
        attr, delta = IntegratedGradients(forward).attribute(
            x, baselines=baseline, n_steps=n_steps, internal_batch_size=n_steps, return_convergence_delta=True)
        with torch.no_grad():
            f_x, f_b = float(forward(x)), float(forward(baseline))
    values = attr.sum(dim=-1)[0].double().cpu().numpy()
    tokens = tuple(tok.convert_ids_to_tokens(ids[0].tolist()))
    return TokenAttribution(tokens=tokens, values=values, base_value=f_b, output_value=f_x,
                            method="integrated_gradients", output=scorer.output,
                            convergence_delta=float(delta.abs().max())), truncated
