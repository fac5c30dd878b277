"""Every YAML file a user can supply (policies, model-card files, the roles file) is read here, within limits.

Plain YAML only (`yaml.SafeLoader`: no Python tags), at most `MAX_YAML_BYTES` (checked before the file is read),
nested at most `MAX_DEPTH` levels, at most `MAX_VALUES` values once aliases are expanded (a few hundred bytes of
nested anchors can otherwise stand for billions of values), no alias that refers to itself and no key twice in
one mapping (YAML would silently keep the last). Each breach is one error naming the file and the fix, found
before any Python object is built.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from auditkit.errors import AuditkitError

MAX_YAML_BYTES = 1_000_000
MAX_DEPTH = 50
MAX_VALUES = 100_000


class _Refused(Exception):
    """A limit was breached; the message completes '<source> ...'."""


class _LimitedLoader(yaml.SafeLoader):
    """The safe loader, refusing documents nested deeper than `MAX_DEPTH` while composing them."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refused(f"nests values more than {MAX_DEPTH} levels deep; write it with fewer levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str | bytes, *, source: str, error: type[AuditkitError],
              max_bytes: int = MAX_YAML_BYTES) -> Any:
    """The Python value of YAML `text` (None for an empty document); `error` (naming `source`) when it breaks a
    limit of this module, is not UTF-8, has a tag or is not valid YAML."""
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > max_bytes:
        raise error(f"{source} is {size:,} bytes; the limit is {max_bytes:,}: keep only the YAML it needs")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise error(f"{source} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    loader = _LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _measure(node, 1, {}, set())
        return loader.construct_document(node)
    except _Refused as exc:
        raise error(f"{source} {exc}") from None
    except yaml.constructor.ConstructorError as exc:
        if "constructor for the tag" not in str(exc.problem):
            raise error(f"{source} is not valid YAML ({exc.problem}); write plain keys and values") from None
        raise error(f"{source}: YAML tag not allowed ({exc.problem}); use plain YAML, remove the '!!' tag") from None
    except yaml.YAMLError as exc:
        raise error(f"{source} is not valid YAML ({' '.join(str(exc).split())}); check the indentation near the "
                    f"position shown") from None
    finally:
        loader.dispose()


def read_yaml_file(path: str | Path, *, error: type[AuditkitError], source: str | None = None,
                   max_bytes: int = MAX_YAML_BYTES) -> Any:
    """`load_yaml` of the file at `path`, whose size is checked before it is read."""
    path = Path(path)
    source = source or f"the file {path}"
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise error(f"{source} is {size:,} bytes; the limit is {max_bytes:,}: keep only the YAML it needs")
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{source} does not exist: check the path") from None
    except OSError as exc:
        raise error(f"cannot read {source} ({exc.strerror or exc}): check the path and its permissions") from None
    return load_yaml(data, source=source, error=error, max_bytes=max_bytes)


def _measure(node: Node, depth: int, sizes: dict[int, tuple[int, int]], open_nodes: set[int]) -> tuple[int, int]:
    """(values, levels) of `node` with its aliases expanded, refusing what breaks the limits. Shared (aliased)
    nodes are measured once, so this takes time in proportion to the text, not to the expansion."""
    key = id(node)
    if key in sizes:
        values, levels = sizes[key]
    else:
        if key in open_nodes:
            raise _Refused("has an alias inside its own anchor (a value that contains itself); remove that alias")
        open_nodes.add(key)
        if isinstance(node, MappingNode):
            _no_repeated_keys(node)
            children = [part for pair in node.value for part in pair]
        else:
            children = node.value if isinstance(node, SequenceNode) else []
        values, levels = 1, 1
        for child in children:
            child_values, child_levels = _measure(child, depth + 1, sizes, open_nodes)
            values, levels = values + child_values, max(levels, child_levels + 1)
            if values > MAX_VALUES:
                raise _Refused(f"expands to more than {MAX_VALUES:,} values through its aliases (*name); "
                               f"write the values out instead of repeating anchors")
        open_nodes.discard(key)
        sizes[key] = values, levels
    if depth + levels - 1 > MAX_DEPTH:
        raise _Refused(f"nests values more than {MAX_DEPTH} levels deep through its aliases; "
                       f"write it with fewer levels")
    return values, levels


def _no_repeated_keys(node: MappingNode) -> None:
    seen: set[tuple[str, str]] = set()
    for key, _ in node.value:
        if isinstance(key, ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
            if (key.tag, key.value) in seen:
                raise _Refused(f"has the key {key.value!r} twice in one mapping (line {key.start_mark.line + 1}); "
                               f"keep one")
            seen.add((key.tag, key.value))
