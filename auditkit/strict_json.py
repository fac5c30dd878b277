"""Strict JSON: NumPy values unwrapped and every NaN or infinite number written as null, never as bare `NaN`."""
from __future__ import annotations

import json
import math
from typing import Any, Callable

import numpy as np


def finite(value: Any, default: Callable[[Any], Any] | None = None) -> Any:
    """`value` as plain JSON types (NumPy scalars and arrays unwrapped, tuples as lists) with every NaN or infinite
    float replaced by None; other objects go through `default` (a TypeError without one)."""
    if isinstance(value, dict):
        return {k: finite(v, default) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v, default) for v in value]
    if isinstance(value, np.ndarray):
        return finite(value.tolist(), default)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float)):
        return value
    if default is None:
        raise TypeError(f"cannot serialise {type(value).__name__}")
    return finite(default(value))


def dumps(value: Any, *, default: Callable[[Any], Any] | None = None, **options: Any) -> str:
    """`json.dumps` of `finite(value)` with `allow_nan=False`."""
    return json.dumps(finite(value, default), allow_nan=False, **options)
