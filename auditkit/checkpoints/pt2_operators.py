"""The operators an uploaded `.pt2` program may call: the pure `aten` operators of tabular and text classifiers.

A graph node is accepted only when all of these hold (reviewed against torch 2.13):
- its target is `torch.ops.aten.<op>.<overload>` with `<op>` in `PURE_ATEN` below, or integer arithmetic on
  symbolic sizes from `_operator` (`SIZE_ARITHMETIC`);
- the overload's schema writes into none of its arguments: in-place operators (`add_`), `out=` variants and
  `(a!)` arguments are refused, so a program cannot change its inputs, weights or memory it maps;
- its argument names are the schema's own (they become Python source when torch rebuilds the module);
- operators that are random or update running statistics in training mode are called in eval mode (`EVAL_ONLY`).

Everything else is refused with the operator's name: file and memory-map operators (`aten.from_file`,
`aten.save`), printing and asynchronous asserts (`aten._print`, `aten._assert_async`), random sampling
(`aten.bernoulli`, `aten.rand`), uninitialised memory (`aten.empty`), raw strides (`aten.as_strided`), custom
namespaces, and higher-order operators (`torch.ops.higher_order.*`, whose subgraphs this list has not reviewed).
"""
from __future__ import annotations

import re
from typing import Any

import torch

from auditkit.errors import UnsafeModelError

PURE_ATEN: dict[str, tuple[str, ...]] = {
    "arithmetic": ("add", "sub", "rsub", "mul", "div", "neg", "reciprocal", "rsqrt", "sqrt", "pow", "exp", "log",
                   "log1p", "expm1", "abs", "sign", "clamp", "clamp_min", "clamp_max", "clip", "floor", "ceil",
                   "round", "trunc", "fmod", "remainder", "square", "maximum", "minimum", "erf"),
    "matrix products": ("mm", "bmm", "matmul", "addmm", "linear", "einsum", "baddbmm", "mv", "dot"),
    "activations": ("relu", "relu6", "gelu", "silu", "sigmoid", "tanh", "elu", "leaky_relu", "hardtanh",
                    "hardsigmoid", "hardswish", "softplus", "mish", "prelu", "threshold", "log_sigmoid"),
    "normalisation": ("layer_norm", "native_layer_norm", "batch_norm", "_native_batch_norm_legit_no_training",
                      "group_norm", "native_group_norm", "rms_norm"),
    "reductions": ("sum", "mean", "amax", "amin", "max", "min", "argmax", "argmin", "prod", "var", "std",
                   "logsumexp", "all", "any", "cumsum"),
    "shapes and views": ("view", "reshape", "_unsafe_view", "flatten", "unflatten", "squeeze", "unsqueeze", "permute",
                         "transpose", "t", "contiguous", "expand", "expand_as", "repeat", "slice", "select",
                         "index_select", "narrow", "split", "split_with_sizes", "chunk", "unbind", "cat", "stack",
                         "clone", "alias", "flip", "gather", "index", "masked_fill", "where", "tril", "triu",
                         "constant_pad_nd", "_to_copy", "to", "type_as", "detach", "lift_fresh_copy",
                         "sym_size", "sym_numel", "sym_stride"),
    "constants": ("full", "full_like", "zeros", "zeros_like", "ones", "ones_like", "arange", "scalar_tensor",
                  "new_zeros", "new_ones", "new_full"),
    "embeddings and attention": ("embedding", "softmax", "log_softmax", "_softmax", "_log_softmax",
                                 "scaled_dot_product_attention"),
    "dropout (eval mode only)": ("dropout", "native_dropout"),
    "comparisons and logic": ("eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not",
                              "logical_xor", "isnan", "bitwise_not"),
}
ALLOWED_ATEN = frozenset(op for ops in PURE_ATEN.values() for op in ops)
SIZE_ARITHMETIC = frozenset(f"_operator.{op}" for op in ("add", "sub", "mul", "floordiv", "mod", "neg",
                                                           "eq", "ne", "lt", "le", "gt", "ge"))
# operator -> (argument, its eval-mode value, whether leaving it out means eval mode): neither random nor
# updating running statistics.
EVAL_ONLY: dict[str, tuple[str, dict[str, Any], bool]] = {
    "dropout": ("train", {"as_bool": False}, False),
    "native_dropout": ("train", {"as_bool": False}, False),
    "batch_norm": ("training", {"as_bool": False}, False),
    "scaled_dot_product_attention": ("dropout_p", {"as_float": 0.0}, True)}

_ATEN_TARGET = re.compile(r"^torch\.ops\.aten\.([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)$")
_FIX = "Fix: export the model with torch.export from a plain torch.nn module in eval mode."


def check_operator(target: str, inputs: list[dict[str, Any]]) -> None:
    """Raise UnsafeModelError unless a node calling `target` with `inputs` (serialized named arguments) is allowed."""
    if target in SIZE_ARITHMETIC:
        return
    shown = target.removeprefix("torch.ops.")
    match = _ATEN_TARGET.match(target)
    if match is None:
        raise UnsafeModelError(f"the .pt2 program calls '{shown}', which is not an aten operator (a custom namespace, "
                               f"higher-order operator or Python function). Refused. {_FIX}")
    op, overload = match.groups()
    if op.endswith("_") and not op.endswith("__"):
        raise UnsafeModelError(f"the .pt2 program calls '{shown}', an in-place operator that writes into its "
                               f"input. Refused. {_FIX}")
    if op not in ALLOWED_ATEN:
        raise UnsafeModelError(f"the .pt2 program calls '{shown}', which is not on AuditKit's list of pure operators "
                               f"(it may touch files, memory, randomness or the console). Refused. {_FIX}")
    packet = getattr(torch.ops.aten, op)
    if overload not in packet.overloads():
        raise UnsafeModelError(f"the .pt2 program calls '{shown}', an overload this torch does not have. Refused. {_FIX}")
    schema = getattr(packet, overload)._schema
    if schema.is_mutable:
        raise UnsafeModelError(f"the .pt2 program calls '{shown}', which writes into its arguments (an out= or "
                               f"in-place variant). Refused. {_FIX}")
    names = {a.name for a in schema.arguments}
    given = {}
    for item in inputs:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in names:
            raise UnsafeModelError(f"the .pt2 program passes an argument {name!r} that '{shown}' does not take. Refused.")
        given[name] = item.get("arg")
    if op in EVAL_ONLY:
        arg, required, omitted_is_eval = EVAL_ONLY[op]
        if given.get(arg, required if omitted_is_eval else None) != required:
            raise UnsafeModelError(f"the .pt2 program calls '{shown}' without {arg} set for eval mode, so it would be "
                                   f"random or update running statistics. Refused. {_FIX}")
