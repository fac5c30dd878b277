"""Result types, background summaries and the registry tabular explainers register into.

The built-in explainers are loaded, and called by name, through `auditkit.explain.methods`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Literal, Protocol

import numpy as np
import torch

from auditkit.errors import AuditkitError, SettingsError
from auditkit.worker.codec import transferable

Output = Literal["logit", "probability"]
Progress = Callable[[int, int], None]
StopCheck = Callable[[], bool]
CHUNK_ROWS = 128

ROWS_EMPTY = "There are no rows to explain; check the dataset and the row limit."


class ExplanationError(AuditkitError, ValueError):
    """An explanation cannot be computed for this model or input; the message says what to do instead."""


@transferable
@dataclass(frozen=True)
class Attribution:
    """Per-row, per-feature attributions of one model output.

    `values[i].sum() + base_values[i]` reproduces `outputs[i]` (the model's output for row i, in `output` units)
    up to `additivity_error`, the largest such gap over the rows explained. A run cut short (`stopped_early`)
    covers the first `len(values)` of the `rows_requested` rows it was given; its values are those of a full run.
    """

    values: np.ndarray
    base_values: np.ndarray
    data: np.ndarray
    feature_names: tuple[str, ...]
    method: str
    output: Output
    outputs: np.ndarray
    additivity_error: float
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    stopped_early: bool = False
    rows_requested: int | None = None

    def global_importance(self) -> dict[str, float]:
        """Mean |attribution| per feature, largest first."""
        imp = np.abs(self.values).mean(axis=0)
        order = np.argsort(-imp, kind="stable")
        return {self.feature_names[j]: float(imp[j]) for j in order}

    def scaled_data(self) -> np.ndarray:
        """Each feature's values over the rows explained scaled to [0, 1], lowest to highest (a feature with one
        value is all 0), e.g. to colour a beeswarm plot."""
        if not len(self.data):
            return np.zeros_like(self.data, dtype=np.float64)
        low, span = self.data.min(axis=0), np.ptp(self.data, axis=0)
        return (self.data - low) / np.where(span == 0, 1, span)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "output": self.output,
            "feature_names": list(self.feature_names),
            "values": self.values.tolist(),
            "base_values": self.base_values.tolist(),
            "data": self.data.tolist(),
            "outputs": self.outputs.tolist(),
            "additivity_error": self.additivity_error,
            "rows": self.rows.tolist(),
            "rows_explained": int(len(self.values)),
            "rows_requested": int(len(self.values) if self.rows_requested is None else self.rows_requested),
            "stopped_early": self.stopped_early,
        }


@transferable
@dataclass(frozen=True)
class TokenAttribution:
    """Token-level attributions of one text: `values.sum() + base_value` reproduces `output`."""

    tokens: tuple[str, ...]
    values: np.ndarray
    base_value: float
    output_value: float
    method: str
    output: Output
    convergence_delta: float | None = None

    @property
    def additivity_error(self) -> float:
        return float(abs(self.values.sum() + self.base_value - self.output_value))

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": list(self.tokens),
            "values": [float(v) for v in self.values],
            "base_value": self.base_value,
            "output_value": self.output_value,
            "method": self.method,
            "output": self.output,
            "additivity_error": self.additivity_error,
            "convergence_delta": self.convergence_delta,
        }


@transferable
@dataclass(frozen=True)
class Background:
    """Reference rows the attributions are measured against, with weights summing to 1."""

    data: np.ndarray
    weights: np.ndarray
    strategy: Literal["sample", "kmeans"]

    @property
    def uniform(self) -> bool:
        return bool(np.allclose(self.weights, self.weights[0]))


def summarize_background(
    x: np.ndarray, *, size: int = 100, strategy: Literal["sample", "kmeans"] = "sample", seed: int = 0
) -> Background:
    """Summarise `x` as `size` background rows: a seeded sample without replacement, or k-means centroids
    (shap.kmeans) weighted by cluster size."""
    x = np.asarray(x, dtype=np.float32)
    if size < 1:
        raise SettingsError(f"Background size must be at least 1, got {size}.")
    if len(x) == 0:
        raise ExplanationError(ROWS_EMPTY)
    if strategy == "sample":
        if len(x) <= size:
            data = x
        else:
            data = x[np.sort(np.random.default_rng(seed).choice(len(x), size, replace=False))]
        return Background(data, np.full(len(data), 1.0 / len(data)), "sample")
    if strategy == "kmeans":
        import shap

        dense = shap.kmeans(x, min(size, len(x)))
        w = np.asarray(dense.weights, dtype=np.float64)
        return Background(np.asarray(dense.data, dtype=np.float32), w / w.sum(), "kmeans")
    raise SettingsError(f"Unknown background strategy {strategy!r}; use 'sample' or 'kmeans'.")


def sample_rows(n: int, limit: int | None, *, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most `limit` rows out of `n` (a seeded sample; all rows when `limit` is None)."""
    if limit is None or n <= limit:
        return np.arange(n)
    if limit < 1:
        raise SettingsError(f"The row limit must be at least 1, got {limit}.")
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def chunks(n: int, size: int = CHUNK_ROWS, *, progress: Progress | None = None,
           should_stop: StopCheck | None = None) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive chunks of `n` rows. `progress(done, n)` is called once each chunk has been
    processed; once `should_stop()` is true no further chunk is handed out (the first chunk always is)."""
    if size < 1:
        raise SettingsError(f"The chunk size must be at least 1, got {size}.")
    for start in range(0, n, size):
        if start and should_stop is not None and should_stop():
            return
        stop = min(start + size, n)
        yield start, stop
        if progress is not None:
            progress(stop, n)


def module_device(module: torch.nn.Module) -> torch.device:
    """The device of the module's first parameter or buffer (CPU when it has none)."""
    for t in list(module.parameters()) + list(module.buffers()):
        return t.device
    return torch.device("cpu")


def model_outputs(module: torch.nn.Module, x: np.ndarray, *, output_index: int | None,
                  batch_size: int = 4096) -> np.ndarray:
    """The module's output in logit units for rows `x` (float64 [n]); `output_index` picks a column of [n, k]
    outputs."""
    device = module_device(module)
    outs = []
    with torch.inference_mode():
        for i in range(0, len(x), batch_size):
            out = module(torch.tensor(x[i:i + batch_size], dtype=torch.float32, device=device))
            outs.append(select_output(out, output_index).double().cpu().numpy())
    return np.concatenate(outs) if outs else np.zeros(0)


def select_output(out: torch.Tensor, output_index: int | None) -> torch.Tensor:
    """One output per row: the tensor itself for [n] outputs, else column `output_index` (default 0)."""
    if isinstance(out, (tuple, list)):
        out = out[0]
    if out.ndim == 1:
        return out
    if out.ndim == 2 and out.shape[1] == 1:
        return out[:, 0]
    return out[:, output_index or 0]


class TabularExplainer(Protocol):
    """Explains one output of a tabular model for rows `x` against a background."""

    def __call__(self, module: torch.nn.Module, x: np.ndarray, background: Background, *,
                 output_index: int | None, feature_names: tuple[str, ...], seed: int,
                 progress: Progress | None = None, should_stop: StopCheck | None = None,
                 chunk_size: int = CHUNK_ROWS) -> Attribution: ...


_EXPLAINERS: dict[str, TabularExplainer] = {}


def register_explainer(name: str) -> Callable[[TabularExplainer], TabularExplainer]:
    """Decorator: make a tabular explainer available under `name` (the plug-ins that `auditkit.explain.methods`
    loads register themselves this way)."""

    def deco(fn: TabularExplainer) -> TabularExplainer:
        _EXPLAINERS[name] = fn
        return fn

    return deco


def registered_explainers() -> dict[str, TabularExplainer]:
    """The explainers registered so far, by name (a copy)."""
    return dict(_EXPLAINERS)


def finish(values: np.ndarray, base: np.ndarray, x: np.ndarray, outputs: np.ndarray, *, method: str,
           feature_names: tuple[str, ...], rows_requested: int | None = None) -> Attribution:
    """Build an Attribution and measure its additivity against the model's own outputs.

    `x`, `values` and `outputs` cover the rows explained; `rows_requested` (default: as many) is how many were
    asked for, so fewer explained rows mark the run as stopped early."""
    values = np.asarray(values, dtype=np.float64)
    base = np.broadcast_to(np.asarray(base, dtype=np.float64), (len(x),)).copy()
    err = float(np.max(np.abs(values.sum(axis=1) + base - outputs))) if len(x) else 0.0
    requested = len(x) if rows_requested is None else rows_requested
    return Attribution(values=values, base_values=base, data=x, feature_names=feature_names, method=method,
                       output="logit", outputs=outputs, additivity_error=err, rows=np.arange(len(x)),
                       stopped_early=len(x) < requested, rows_requested=requested)


ROW_OUT_OF_RANGE = "Row {0} is out of range: the dataset has {1} rows, so pick a row from 0 to {2}."


def check_row(row: int, n_rows: int) -> int:
    """`row` as an int if it indexes one of `n_rows` rows, else an ExplanationError that names the valid range."""
    if isinstance(row, bool) or not isinstance(row, (int, np.integer)) or not 0 <= int(row) < n_rows:
        raise ExplanationError(ROW_OUT_OF_RANGE.format(row, n_rows, max(n_rows - 1, 0)))
    return int(row)
