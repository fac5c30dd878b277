"""Comparing an audit.json with a stored golden one, apart from timings, versions and measured energy."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden"
# Keys whose values are timings, machine facts or measurements that differ from run to run.
VOLATILE = {"energy", "seconds", "rows_per_second", "created", "versions", "model_sha256", "model_worker", "device",
            "cached", "baseline_seconds", "measured"}


def normalised(value: Any) -> Any:
    """`value` without volatile keys (at any depth), as plain JSON types."""
    if isinstance(value, dict):
        return {str(k): normalised(v) for k, v in value.items() if k not in VOLATILE and not str(k).endswith("_seconds")}
    if isinstance(value, (list, tuple)):
        return [normalised(v) for v in value]
    return value


def differences(got: Any, want: Any, path: str = "", *, rel: float = 1e-6, abs_: float = 1e-9) -> list[str]:
    """Where `got` and `want` differ (numbers within `rel`/`abs_`), as paths with both values."""
    if isinstance(want, dict) and isinstance(got, dict):
        out = [f"{path}/{k}: missing" for k in want if k not in got]
        out += [f"{path}/{k}: unexpected" for k in got if k not in want]
        for k in want.keys() & got.keys():
            out += differences(got[k], want[k], f"{path}/{k}", rel=rel, abs_=abs_)
        return out
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [d for i, (g, w) in enumerate(zip(got, want)) for d in differences(g, w, f"{path}[{i}]", rel=rel, abs_=abs_)]
    numbers = (int, float)
    if isinstance(want, numbers) and isinstance(got, numbers) and not isinstance(want, bool):
        if math.isclose(got, want, rel_tol=rel, abs_tol=abs_) or (math.isnan(got) and math.isnan(want)):
            return []
    elif got == want:
        return []
    return [f"{path}: {str(got)[:80]} != {str(want)[:80]}"]


def golden(name: str) -> Any:
    """The stored golden audit `name` (tests/golden/<name>.json), normalised."""
    return normalised(json.loads((GOLDEN / f"{name}.json").read_text()))


def as_json(audit: dict[str, Any]) -> Any:
    """An audit dict as it reads back from audit.json."""
    return json.loads(json.dumps(audit, default=lambda v: v.item() if hasattr(v, "item") else v.tolist()))
