"""DeepSHAP for tabular PyTorch models, computed on the model's `torch.export` graph.

The rescale rule of DeepLIFT (as in shap's DeepExplainer) is applied to every element-wise non-linearity of the
graph, every other operation is differentiated as usual. For a network of affine maps and element-wise
non-linearities (the TabularMLP family) this gives, for each background row b,
sum_i phi_i(x, b) = f(x) - f(b) exactly; averaging over the background makes the values additive
against the background's mean output. For a linear model the values are exactly w_i * (x_i - mean(b_i)),
the model's exact SHAP values. The computation runs in float64 on the model's device and never changes
the model: it reads the graph and its weights through a `torch.fx.Interpreter`.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch
import torch.fx

from auditkit.explain.base import (
    CHUNK_ROWS,
    Attribution,
    Background,
    ExplanationError,
    Progress,
    StopCheck,
    chunks,
    finish,
    model_outputs,
    module_device,
    register_explainer,
    select_output,
)

NO_GRADIENTS = ("The model's output carries no gradient (it may run under no_grad or leave torch), so gradient "
                "methods cannot explain it; use method='permutation' or 'kernel' instead.")
NOT_TRACEABLE = ("The model could not be traced into a graph ({0}); use method='permutation' or 'kernel' instead.")

_aten = torch.ops.aten
_ELEMENTWISE = {
    _aten.relu.default, _aten.sigmoid.default, _aten.tanh.default, _aten.gelu.default, _aten.silu.default,
    _aten.elu.default, _aten.leaky_relu.default, _aten.softplus.default, _aten.hardtanh.default,
    _aten.relu6.default, _aten.hardsigmoid.default, _aten.hardswish.default, _aten.mish.default,
    _aten.exp.default,
}
_PAIR_CHUNK = 65_536


class _Rescale(torch.autograd.Function):
    """y = fn(zx) for rows paired with background activations `zb`; backward multiplies by the rescale multiplier
    (fn(zx) - fn(zb)) / (zx - zb), or by fn'(zx) where zx equals zb.

    `zx` is [R * M, ...] (each explained row repeated for the M background rows), `zb` is [M, ...].
    """

    @staticmethod
    def forward(ctx: Any, zx: torch.Tensor, zb: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor],
                is_relu: bool) -> torch.Tensor:
        out = fn(zx)
        x3 = zx.reshape(-1, *zb.shape)
        dz = x3 - zb
        dout = out.reshape(x3.shape) - fn(zb)
        if is_relu:
            local = (x3 > 0).to(zx.dtype)
        else:
            with torch.enable_grad():
                t = zx.detach().requires_grad_(True)
                local = torch.autograd.grad(fn(t).sum(), t)[0].reshape(x3.shape)
        ctx.save_for_backward(torch.where(dz != 0, dout / dz, local).reshape(zx.shape))
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None, None]:
        (multiplier,) = ctx.saved_tensors
        return grad * multiplier, None, None, None


class _RescaleInterpreter(torch.fx.Interpreter):
    """Runs a graph in float64. With `background=None` it records the inputs of every element-wise
    non-linearity (the background pass); otherwise it routes them through `_Rescale` against those records."""

    def __init__(self, gm: torch.fx.GraphModule, background: dict[str, torch.Tensor] | None):
        super().__init__(gm)
        self.background = background
        self.recorded: dict[str, torch.Tensor] = {}
        self._node: torch.fx.Node | None = None

    def run_node(self, n: torch.fx.Node) -> Any:
        self._node = n
        return super().run_node(n)

    def fetch_attr(self, target: str) -> Any:
        value = super().fetch_attr(target)
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            return value.detach().double()
        return value

    def call_function(self, target: Any, args: tuple, kwargs: dict) -> Any:
        if target in _ELEMENTWISE and isinstance(args[0], torch.Tensor):
            name = self._node.name if self._node is not None else str(target)
            rest = args[1:]

            def fn(t: torch.Tensor) -> torch.Tensor:
                return target(t, *rest, **kwargs)

            if self.background is None:
                self.recorded[name] = args[0].detach()
                return fn(args[0])
            return _Rescale.apply(args[0], self.background[name], fn, target is _aten.relu.default)
        return super().call_function(target, args, kwargs)


def graph_module(module: torch.nn.Module, n_features: int) -> torch.fx.GraphModule:
    """The module itself when it is already a graph (an exported program's `.module()`), else its export."""
    if isinstance(module, torch.fx.GraphModule):
        return module
    try:
        batch = torch.export.Dim("batch", min=1)
        example = (torch.zeros(2, n_features, dtype=torch.float32, device=module_device(module)),)
        return torch.export.export(module, example, dynamic_shapes=({0: batch},)).module()
    except Exception as exc:  # torch.export raises many error types for untraceable code
        raise ExplanationError(NOT_TRACEABLE.format(type(exc).__name__)) from exc


def deep_shap_values(gm: torch.fx.GraphModule, x: np.ndarray, background: Background, *,
                     output_index: int | None, device: torch.device, progress: Progress | None = None,
                     should_stop: StopCheck | None = None, chunk_size: int = CHUNK_ROWS) -> tuple[np.ndarray, float]:
    """DeepSHAP values (float64 [n, f]) of rows `x` and the weighted mean background output (the base value).

    Rows are explained in chunks (of at most `chunk_size` rows, fewer with a large background); once
    `should_stop()` is true only the rows done so far are returned (the first rows of `x`)."""
    bg = torch.tensor(background.data, dtype=torch.float64, device=device)
    w = torch.tensor(background.weights, dtype=torch.float64, device=device)
    m, f = bg.shape
    recorder = _RescaleInterpreter(gm, None)
    with torch.no_grad():
        base = float((select_output(recorder.run(bg), output_index) * w).sum())
    interp = _RescaleInterpreter(gm, recorder.recorded)
    rows_per_chunk = max(1, min(chunk_size, _PAIR_CHUNK // m))
    values = np.zeros((len(x), f))
    done = 0
    for start, stop in chunks(len(x), rows_per_chunk, progress=progress, should_stop=should_stop):
        xs = torch.tensor(x[start:stop], dtype=torch.float64, device=device)
        z = xs.repeat_interleave(m, dim=0).requires_grad_(True)
        with torch.enable_grad():
            out = select_output(interp.run(z), output_index)
            if not out.requires_grad:
                raise ExplanationError(NO_GRADIENTS)
            grad = torch.autograd.grad(out.sum(), z)[0]
        phi = grad.reshape(len(xs), m, f) * (xs[:, None, :] - bg[None])
        values[start:stop] = torch.einsum("rmf,m->rf", phi, w).cpu().numpy()
        done = stop
    return values[:done], base


@register_explainer("deep")
def explain_deep(module: torch.nn.Module, x: np.ndarray, background: Background, *, output_index: int | None,
                 feature_names: tuple[str, ...], seed: int, progress: Progress | None = None,
                 should_stop: StopCheck | None = None, chunk_size: int = CHUNK_ROWS) -> Attribution:
    """DeepSHAP (rescale rule) over the export graph; additive by construction for MLP-style models."""
    device = module_device(module)
    gm = graph_module(module, x.shape[1])
    values, base = deep_shap_values(gm, x, background, output_index=output_index, device=device,
                                    progress=progress, should_stop=should_stop, chunk_size=chunk_size)
    done = x[:len(values)]
    outputs = model_outputs(module, done, output_index=output_index)
    return finish(values, base, done, outputs, method="deep", feature_names=feature_names, rows_requested=len(x))
