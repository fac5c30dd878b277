"""Fused per-sample gradient clipping for stacks of `nn.Linear` layers (the tabular MLP).

For a linear layer with input a_i and output gradient g_i of example i, the per-sample weight gradient is the
outer product g_i a_i^T, whose norm is |g_i| |a_i|. So the per-sample norms and the clipped gradient sum
sum_i c_i g_i a_i^T = (c * G)^T A come from one forward and one backward pass, without materialising per-sample
gradients (the same identity as Opacus' ghost clipping, without its second backward pass).
The result equals Opacus' clipped sum (tests compare with `grad_sample_mode="hooks"`); noise, scaling and
accounting stay with Opacus' DP optimizer.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

# Opacus' clip factor: min(1, C / (norm + 1e-6)).
_EPS = 1e-6


def fused_clipping_supported(module: nn.Module) -> bool:
    """True when every trainable parameter belongs to an `nn.Linear` layer."""
    trainable = {id(p) for p in module.parameters() if p.requires_grad}
    in_linear = {id(p) for m in module.modules() if isinstance(m, nn.Linear) for p in m.parameters(recurse=False)
                 if p.requires_grad}
    return bool(trainable) and trainable == in_linear


class FusedLinearClipper:
    """Computes clipped per-sample gradient sums into `p.grad` for a module of linear layers.

    Installs forward hooks on the module's linear layers; use only on a private copy and call `close()` after.
    """

    def __init__(self, module: nn.Module, max_grad_norm: float):
        if not fused_clipping_supported(module):
            raise ValueError("fused clipping needs every trainable parameter inside an nn.Linear layer")
        self.module = module
        self.max_grad_norm = float(max_grad_norm)
        self.layers = [m for m in module.modules() if isinstance(m, nn.Linear)]
        self._inputs: list[torch.Tensor] = []
        self._outputs: list[torch.Tensor] = []
        self._handles = [layer.register_forward_hook(self._capture) for layer in self.layers]

    def _capture(self, layer: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        if inputs[0].dim() != 2:
            raise ValueError("fused clipping needs 2-D inputs [batch, features] to every linear layer")
        self._inputs.append(inputs[0].detach())
        self._outputs.append(output)

    def clipped_grad_sum(self, x: torch.Tensor, y: torch.Tensor,
                         loss_per_sample: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Set `p.grad` to the sum over the batch of clipped per-sample gradients; return the per-sample losses."""
        self._inputs.clear()
        self._outputs.clear()
        losses = loss_per_sample(self.module(x), y)
        outputs, inputs = self._outputs[:], self._inputs[:]
        self._inputs.clear()
        self._outputs.clear()
        backprops = torch.autograd.grad(losses.sum(), outputs, allow_unused=True)
        sq_norms = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
        for layer, a, g in zip(self.layers, inputs, backprops):
            if g is None:
                continue
            g_sq = g.pow(2).sum(1)
            if layer.weight.requires_grad:
                sq_norms += g_sq * a.pow(2).sum(1)
            if layer.bias is not None and layer.bias.requires_grad:
                sq_norms += g_sq
        factor = (self.max_grad_norm / (sq_norms.sqrt() + _EPS)).clamp(max=1.0)
        for layer, a, g in zip(self.layers, inputs, backprops):
            scaled = g * factor[:, None] if g is not None else None
            if layer.weight.requires_grad:
                layer.weight.grad = scaled.t() @ a if scaled is not None else torch.zeros_like(layer.weight)
            if layer.bias is not None and layer.bias.requires_grad:
                layer.bias.grad = scaled.sum(0) if scaled is not None else torch.zeros_like(layer.bias)
        return losses.detach()

    def close(self) -> None:
        """Remove the hooks."""
        for h in self._handles:
            h.remove()
        self._handles.clear()
