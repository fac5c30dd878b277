"""Check the serialized program of a `.pt2` archive (`models/model.json`) without handing it to torch.

When torch rebuilds a program it does more than read data: node targets become calls, symbolic sizes are parsed
with `sympy.sympify` (which evaluates Python), names and weight paths are pasted into generated Python source,
guards become code, and pytree specs can import modules. So the JSON is accepted only when:
- every node calls an allowed operator (`pt2_operators`), and no argument is a subgraph, custom object or operator;
- the signature takes weights, constants and one float32 `[batch, n_features]` tensor, and only returns user
  outputs (no buffer, parameter or input mutations, no tokens);
- every name is a Python identifier, every weight path a dotted name, every symbolic size a small arithmetic
  expression over size symbols, every pytree spec a tuple, list or dict;
- there are no guards, custom objects or named tuples.
The copy handed to torch (`CheckedProgram.program`) drops node metadata (stack traces, module paths), which
inference does not need.
"""
from __future__ import annotations

import json
import keyword
import re
from dataclasses import dataclass
from typing import Any

from auditkit.checkpoints.pt2_operators import check_operator
from auditkit.errors import ModelLoadError, UnsafeModelError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,199}$")
_FQN_PART = re.compile(r"^[A-Za-z0-9_]{1,200}$")
_SYMBOL = re.compile(r"^[a-z]{1,8}[0-9]{1,9}$")
_EXPR_TOKEN = re.compile(r"\s*(?:([A-Za-z]+)|('[a-z]{1,8}[0-9]{1,9}')|(-?[0-9]{1,19})|([(),=]))")
_EXPR_NAMES = frozenset({"Symbol", "Integer", "Add", "Mul", "FloorDiv", "CeilDiv", "CleanDiv", "Mod", "PythonMod",
                         "Max", "Min", "FloorToInt", "CeilToInt", "Eq", "Ne", "Lt", "Le", "Gt", "Ge",
                         "integer", "positive", "nonnegative", "real", "finite", "True", "False"})
_MAX_EXPR = 1000
_INPUT_KINDS = frozenset({"user_input", "parameter", "buffer", "tensor_constant", "constant_input"})
_WEIGHT_KINDS = {"parameter": "parameter_name", "buffer": "buffer_name", "tensor_constant": "tensor_constant_name"}
_REFUSED_ARGUMENTS = {"as_graph": "a subgraph (higher-order operator)", "as_custom_obj": "a custom object",
                      "as_operator": "an operator passed as a value"}
_TREESPEC_TYPES = frozenset({None, "builtins.tuple", "builtins.list", "builtins.dict", "collections.OrderedDict"})
_VERIFIERS = frozenset({"ATEN", "TRAINING"})
_FLOAT32 = 7
_REEXPORT = "Fix: re-export the model with torch.export.save from a plain torch.nn module."


@dataclass(frozen=True)
class CheckedProgram:
    """The serialized program as torch may read it, and what the archive's configs must provide for it."""

    program: dict[str, Any]
    n_features: int
    weights: frozenset[str]  # parameter and buffer names, and tensor constants: every tensor a config must list


def check_program(member: str, data: bytes) -> CheckedProgram:
    """Parse and check the program JSON of archive member `member`; raise UnsafeModelError naming what is refused."""
    try:
        program = json.loads(data)
        _walk(program)
    except (ValueError, RecursionError):
        raise UnsafeModelError(f"the .pt2 archive member '{member}' is not valid JSON. Refused. {_REEXPORT}") from None
    try:
        return _check(member, program)
    except (TypeError, AttributeError, KeyError, IndexError) as e:  # a field of the wrong type or shape
        raise UnsafeModelError(f"the .pt2 archive member '{member}' is not a well-formed serialized program "
                               f"({type(e).__name__}: {e}). Refused. {_REEXPORT}") from None


def _check(member: str, program: Any) -> CheckedProgram:
    if not isinstance(program, dict) or not isinstance(program.get("graph_module"), dict):
        raise UnsafeModelError(f"the .pt2 archive member '{member}' is not a serialized program. Refused. {_REEXPORT}")
    if program.get("guards_code"):
        raise UnsafeModelError(f"the .pt2 program carries guard code ('{member}': guards_code), which torch would run "
                               f"as Python. Refused. {_REEXPORT}")
    if set(program.get("opset_version") or {}) - {"aten"}:
        raise UnsafeModelError(f"the .pt2 program uses operator sets {sorted(program['opset_version'])}; only aten is "
                               f"allowed. Refused. {_REEXPORT}")
    if set(program.get("verifiers") or []) - _VERIFIERS:
        raise UnsafeModelError(f"the .pt2 program names unknown verifiers {program['verifiers']}. Refused. {_REEXPORT}")
    for symbol in program.get("range_constraints") or {}:
        if not _SYMBOL.match(symbol):
            raise UnsafeModelError(f"the .pt2 program constrains a size named {symbol!r}, which is not a size symbol. Refused.")
    module = program["graph_module"]
    if module.get("treespec_namedtuple_fields"):
        raise UnsafeModelError(f"the .pt2 program returns named tuples, which AuditKit does not load. {_REEXPORT}")
    graph = _dict(module.get("graph"), "graph")
    if graph.get("custom_obj_values"):
        raise UnsafeModelError(f"the .pt2 program holds custom objects ({sorted(graph['custom_obj_values'])}), which "
                               f"torch would unpickle. Refused. {_REEXPORT}")
    for key in ("tensor_values", "sym_int_values", "sym_bool_values", "sym_float_values"):
        for name in _dict(graph.get(key, {}), key):
            _identifier(name)
    for node in _list(graph.get("nodes"), "nodes"):
        node = _dict(node, "node")
        target = node.get("target")
        if not isinstance(target, str):
            raise UnsafeModelError("the .pt2 program has a node without an operator. Refused.")
        check_operator(target, _list(node.get("inputs"), "node inputs"))
        node["metadata"] = {}
    module["metadata"] = {}
    for entry in _list(module.get("module_call_graph", []), "module_call_graph"):
        _check_call_entry(_dict(entry, "module_call_graph entry"))
    weights, user_inputs = _check_signature(_dict(module.get("signature"), "signature"))
    return CheckedProgram(program, _n_features(user_inputs, graph.get("tensor_values", {})), weights)


def check_fqn(name: Any) -> str:
    """A weight's dotted path (`net.0.weight`); torch pastes it into generated Python source."""
    if not isinstance(name, str) or not all(_FQN_PART.match(p) and not p.startswith("__") for p in name.split(".")):
        raise UnsafeModelError(f"the .pt2 archive names a weight {name!r}, which is not a dotted name. Refused. {_REEXPORT}")
    return name


def _walk(value: Any) -> None:
    """Check, anywhere in the program, the strings torch turns into code: names and symbolic sizes."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _REFUSED_ARGUMENTS:
                raise UnsafeModelError(f"the .pt2 program passes {_REFUSED_ARGUMENTS[key]} ({key}), which AuditKit "
                                       f"does not load. Refused. {_REEXPORT}")
            if key in ("name", "as_name") and isinstance(item, str):
                _identifier(item)
            elif key == "expr_str":
                _expression(item)
            else:
                _walk(item)
    elif isinstance(value, list):
        for item in value:
            _walk(item)


def _identifier(name: Any) -> None:
    if not isinstance(name, str) or not _IDENTIFIER.match(name) or keyword.iskeyword(name) or name.startswith("__"):
        raise UnsafeModelError(f"the .pt2 program uses the name {name!r}, which is not a plain Python identifier "
                               f"(torch would paste it into generated code). Refused. {_REEXPORT}")


def _expression(expr: Any) -> None:
    """A symbolic size as torch writes it (`Symbol('s77', positive=True, integer=True)`), parsed by sympify."""
    ok = isinstance(expr, str) and len(expr) <= _MAX_EXPR
    pos = 0
    while ok and pos < len(expr.rstrip()):
        token = _EXPR_TOKEN.match(expr, pos)
        ok = token is not None and (token.group(1) is None or token.group(1) in _EXPR_NAMES)
        pos = token.end() if token else pos
    if not ok:
        shown = expr[:80] if isinstance(expr, str) else expr
        raise UnsafeModelError(f"the .pt2 program has a symbolic size {shown!r} that is not plain size arithmetic "
                               f"(torch would evaluate it as Python). Refused. {_REEXPORT}")


def _check_call_entry(entry: dict[str, Any]) -> None:
    if entry.get("fqn"):
        check_fqn(entry["fqn"])
    signature = entry.get("signature")
    if signature is None:
        return
    signature = _dict(signature, "module call signature")
    for name in signature.get("forward_arg_names") or []:
        _identifier(name)
    for key in ("in_spec", "out_spec"):
        try:
            spec = json.loads(signature.get(key) or "null")
        except (TypeError, ValueError, RecursionError):
            spec = None
        if not (isinstance(spec, list) and len(spec) == 2 and spec[0] == 1):
            raise UnsafeModelError(f"the .pt2 program's {key} is not a pytree spec. Refused. {_REEXPORT}")
        _check_treespec(spec[1])


def _check_treespec(spec: Any) -> None:
    """Tuples, lists, dicts and leaves only: other pytree types run registered code, and enum contexts import modules."""
    spec = _dict(spec, "pytree spec")
    kind = spec.get("type")
    if kind not in _TREESPEC_TYPES:
        raise UnsafeModelError(f"the .pt2 program's inputs or outputs use the container type {kind!r}; only tuples, "
                               f"lists and dicts are allowed. Refused. {_REEXPORT}")
    context = spec.get("context")
    try:
        keys = json.loads(context) if isinstance(context, str) else context
    except (ValueError, RecursionError):
        keys = context
    if not (keys is None or (isinstance(keys, list) and all(isinstance(k, str) for k in keys))):
        raise UnsafeModelError(f"the .pt2 program's pytree spec has the context {str(context)[:80]!r}; only lists of "
                               f"key names are allowed. Refused. {_REEXPORT}")
    for child in _list(spec.get("children_spec", []), "pytree children"):
        _check_treespec(child)


def _check_signature(signature: dict[str, Any]) -> tuple[frozenset[str], list[dict[str, Any]]]:
    weights, user_inputs = set(), []
    for spec in _list(signature.get("input_specs"), "input_specs"):
        kind, body = _only_entry(spec, "input spec")
        if kind not in _INPUT_KINDS:
            raise UnsafeModelError(f"the .pt2 program takes a {kind} input (custom objects and effect tokens are "
                                   f"refused). {_REEXPORT}")
        body = _dict(body, kind)
        if kind == "user_input":
            user_inputs.append(_dict(body.get("arg"), "user input"))
        elif kind in _WEIGHT_KINDS:
            weights.add(check_fqn(body.get(_WEIGHT_KINDS[kind])))
    for spec in _list(signature.get("output_specs"), "output_specs"):
        kind, body = _only_entry(spec, "output spec")
        if kind != "user_output":
            target = next((v for k, v in _dict(body, kind).items() if k.endswith("_name")), "?")
            raise UnsafeModelError(f"the .pt2 program writes to {target!r} (a {kind} output); an uploaded model must "
                                   f"not change its weights, buffers or inputs. Refused. {_REEXPORT}")
    return frozenset(weights), user_inputs


def _n_features(user_inputs: list[dict[str, Any]], tensor_values: dict[str, Any]) -> int:
    if len(user_inputs) != 1:
        raise ModelLoadError(f"the exported program takes {len(user_inputs)} inputs; a tabular model must take one "
                             "float tensor [batch, n_features].")
    name = (user_inputs[0].get("as_tensor") or {}).get("name")
    meta = tensor_values.get(name) if isinstance(name, str) else None
    sizes = meta.get("sizes") if isinstance(meta, dict) else None
    if not isinstance(sizes, list) or len(sizes) != 2 or meta.get("dtype") != _FLOAT32:
        raise ModelLoadError("the exported program's input is not a float32 tensor [batch, n_features]. "
                             "Fix: export the model with a float32 example of shape (batch, n_features).")
    n_features = sizes[1].get("as_int") if isinstance(sizes[1], dict) else None
    if not isinstance(n_features, int) or n_features < 1:
        raise ModelLoadError("the exported program's number of features is not fixed. "
                             "Fix: export with a dynamic batch dimension only.")
    return n_features


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UnsafeModelError(f"the .pt2 program's {what} is malformed. Refused. {_REEXPORT}")
    return value


def _only_entry(value: Any, what: str) -> tuple[str, Any]:
    """The one (kind, body) pair of a serialized union."""
    value = _dict(value, what)
    if len(value) != 1:
        raise UnsafeModelError(f"the .pt2 program's {what} is malformed. Refused. {_REEXPORT}")
    return next(iter(value.items()))


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise UnsafeModelError(f"the .pt2 program's {what} is malformed. Refused. {_REEXPORT}")
    return value
