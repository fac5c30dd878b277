"""Cross-check 2: Layer-wise Relevance Propagation (Captum's LRP, epsilon rule) for TabularMLP models.

Captum's LRP works on `nn.Module` layers it knows (Linear, ReLU, ...). An exported program has no such layers,
so the MLP is rebuilt from the exported weights as an `nn.Sequential` (a fresh copy; the shared model is never
touched). The built-in standardisation is applied first and relevance is assigned to the standardised inputs,
one per raw feature.
"""
from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

from auditkit.explain.base import ExplanationError

NOT_AN_MLP = ("LRP needs a TabularMLP (standardisation + Linear/ReLU layers); this model's weights ({0}) do not "
              "have that layout, so the LRP cross-check is skipped.")
_LAYER = re.compile(r"^net\.(\d+)\.(weight|bias)$")


def rebuild_mlp(state: dict[str, torch.Tensor]) -> tuple[nn.Sequential, torch.Tensor, torch.Tensor]:
    """The Linear/ReLU stack and the standardisation (mean, std) of a TabularMLP state dict, as fresh float32 copies."""
    keys = set(state)
    layers = sorted({int(m.group(1)) for k in keys if (m := _LAYER.match(k))})
    expected = {"mean", "std"} | {f"net.{i}.{p}" for i in layers for p in ("weight", "bias")}
    if not layers or keys != expected or layers != list(range(0, 2 * len(layers), 2)):
        raise ExplanationError(NOT_AN_MLP.format(", ".join(sorted(keys)[:6])))
    modules: list[nn.Module] = []
    for n, i in enumerate(layers):
        w, b = state[f"net.{i}.weight"], state[f"net.{i}.bias"]
        lin = nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            lin.weight.copy_(w.detach().float().cpu())
            lin.bias.copy_(b.detach().float().cpu())
        modules.append(lin)
        if n < len(layers) - 1:
            modules.append(nn.ReLU())
    return nn.Sequential(*modules).eval(), state["mean"].detach().float().cpu(), state["std"].detach().float().cpu()


def lrp_relevance(module: nn.Module, x: np.ndarray, *, output_index: int | None) -> np.ndarray:
    """LRP relevance per row and feature (float64 [n, f]) of the chosen output."""
    from captum.attr import LRP

    net, mean, std = rebuild_mlp(dict(module.state_dict()))
    z = ((torch.tensor(x, dtype=torch.float32) - mean) / std).requires_grad_(True)
    target = 0 if net[-1].out_features == 1 else (output_index or 0)
    relevance = LRP(net).attribute(z, target=target)
    return relevance.detach().double().numpy()


def lrp_check(module: nn.Module, x: np.ndarray, *, output_index: int | None, feature_names: list[str]) -> dict:
    """Mean |relevance| per feature, largest first."""
    rel = np.abs(lrp_relevance(module, x, output_index=output_index)).mean(axis=0)
    order = np.argsort(-rel, kind="stable")
    return {"rule": "epsilon", "importance": {feature_names[j]: float(rel[j]) for j in order}}
