"""SHAP on Ray: the explained rows (or texts) split into shards, one Ray task per shard, joined in row order.

The driver picks the rows and the background exactly as the local engine does (same seeds) and sends the
background as arrays; every task loads the model itself from the checkpoint's bytes (a .pt2 file, or a Hugging
Face folder shipped as a zip) through auditkit's safe loader, so no model object is pickled, explains its rows
with the local engine's function and returns arrays. A row's DeepSHAP values do not depend on the other rows,
so they equal the local engine's for the same rows; a text's Partition SHAP values do not either, up to
floating-point differences from padding in differently composed batches. The model-agnostic tabular methods
('permutation', 'kernel' with more than 11 features) draw their samples per call, so their values differ from a
local run by sampling noise.
"""
from __future__ import annotations

import io
import tempfile
import time
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Literal

import numpy as np

from auditkit.errors import ModelLoadError, SettingsError, UnsafeModelError
from auditkit.explain.base import (
    ROWS_EMPTY,
    Attribution,
    Background,
    ExplanationError,
    Output,
    StopCheck,
    TokenAttribution,
    explain_tabular,
    finish,
    sample_rows,
    summarize_background,
)
from auditkit.explain.importance import by_group_importance, group_difference
from auditkit.explain.tabular import NO_MODEL, TabularExplanation, positive_output
from auditkit.explain.text import TextExplanation, scorer_for
from auditkit.explain.text_shap import DEFAULT_MAX_EVALS, explain_texts, token_aggregates
from auditkit.hashing import sha256_bytes, sha256_path
from auditkit.scale.cluster import ensure_ray

NOT_FOUND = "checkpoint '{0}' does not exist. Fix: pass the model file or folder the audit loaded."
WRONG_KIND = ("this checkpoint holds a {0} model, not a {1} model. "
              "Fix: pass the checkpoint of the audit's model.")
LINK = "the model folder contains a symbolic link '{0}'. Refused. Fix: copy real files."
OTHER_MODEL = ("'{0}' is not the checkpoint of the audit's model (their SHA-256 differ). "
               "Fix: pass the checkpoint file or folder the audit loaded.")
NOT_DISTRIBUTED = ("cross-checks (permutation importance, LRP) are not distributed; "
                   "run the local engine on a smaller sample for them")

RowProgress = Callable[[int, int], None]


def checkpoint_bytes(checkpoint: str | Path) -> tuple[bytes, str]:
    """The checkpoint as bytes and the file suffix its loader expects: a file as it is, a folder as a zip."""
    path = Path(checkpoint)
    if path.is_file():
        return path.read_bytes(), path.suffix
    if not path.is_dir():
        raise ModelLoadError(NOT_FOUND.format(path))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        for p in sorted(path.rglob("*")):
            if p.is_symlink():
                raise UnsafeModelError(LINK.format(p.relative_to(path)))
            if p.is_file():
                zf.write(p, p.relative_to(path).as_posix())
    return buffer.getvalue(), ".zip"


_LOADED: dict[str, Any] = {}  # per worker process: the last model loaded, by checkpoint SHA-256


def _load(blob: bytes, suffix: str, sha256: str, kind: str) -> Any:
    """The LoadedModel in `blob`, through the safe loader (a zipped folder is extracted into the workspace once);
    a worker keeps the last model it loaded for the next shard of the same checkpoint (models are never mutated)."""
    from auditkit.checkpoints.loader import load_model

    model = _LOADED.get(sha256)
    if model is None:
        with tempfile.TemporaryDirectory(prefix="auditkit-shard-") as folder:
            path = Path(folder) / f"model{suffix}"
            path.write_bytes(blob)
            model = load_model(path)
        _LOADED.clear()
        _LOADED[sha256] = model
    if model.kind != kind:
        raise ExplanationError(WRONG_KIND.format(model.kind, kind))
    return model


def _explain_shard(blob: bytes, suffix: str, sha256: str, x: np.ndarray,
                   background: tuple[np.ndarray, np.ndarray, Any], *, method: str, output_index: int | None,
                   feature_names: tuple[str, ...], seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, base values, outputs) of rows `x`."""
    model = _load(blob, suffix, sha256, "tabular")
    a = explain_tabular(model.module, x, background=Background(*background), method=method,
                        output_index=output_index, feature_names=feature_names, seed=seed)
    return a.values, a.base_values, a.outputs


def _explain_text_shard(blob: bytes, suffix: str, sha256: str, texts: list[str], *, positive_label: str,
                        labels: tuple[str, ...], output: Output,
                        max_evals: int) -> tuple[list[TokenAttribution], list[bool]]:
    """Token attributions of `texts` and whether each was cut to the model's limit."""
    model = _load(blob, suffix, sha256, "text")
    return explain_texts(scorer_for(model, positive_label, labels, output=output), texts, max_evals=max_evals)


def _run_shards(fn: Callable[..., Any], checkpoint: str | Path, items: Any, n_items: int, shards: int | None,
                address: str | None, progress: RowProgress | None, should_stop: StopCheck | None,
                **options: Any) -> tuple[np.ndarray, list[Any]]:
    """`fn(blob, suffix, sha256, items[block], **options)` for consecutive blocks of `items` as one-CPU Ray tasks:
    the positions of the items done and the results of their blocks, in block order. `progress(items_done,
    n_items)` advances as blocks finish; once `should_stop()` is true (after the first block) the blocks not yet
    finished are cancelled."""
    import ray

    from auditkit.scale.sweep import completed  # imported here: shard tasks need not load the DP training stack

    blob, suffix = checkpoint_bytes(checkpoint)
    ensure_ray(address)
    n_shards = max(1, min(shards or int(ray.cluster_resources().get("CPU", 1)), n_items))
    blocks = np.array_split(np.arange(n_items), n_shards)
    task = ray.remote(num_cpus=1)(fn)
    ref = ray.put(blob)
    sha = sha256_bytes(blob)
    refs = [task.remote(ref, suffix, sha, items[b[0]:b[-1] + 1], **options) for b in blocks]
    parts: list[Any] = [None] * len(refs)
    done = 0
    try:
        for i, part in completed(refs, should_stop=should_stop):
            parts[i] = part
            done += len(blocks[i])
            if progress is not None:
                progress(done, n_items)
    except BaseException:
        for r in refs:
            ray.cancel(r)
        raise
    finished = [i for i, p in enumerate(parts) if p is not None]
    return np.concatenate([blocks[i] for i in finished]), [parts[i] for i in finished]


def check_checkpoint(ctx: Any, checkpoint: str | Path) -> None:
    """An ExplanationError when the audit has no model, a SettingsError when `checkpoint` is not its model."""
    if ctx.model is None:
        raise ExplanationError(NO_MODEL)
    path = Path(checkpoint)
    if not path.exists():
        raise ModelLoadError(NOT_FOUND.format(path))
    if sha256_path(path) != ctx.model.sha256:
        raise SettingsError(OTHER_MODEL.format(path.name))


def explain_tabular_ray(checkpoint: str | Path, x: np.ndarray, *, background: Background, method: str = "deep",
                        output_index: int | None = None, feature_names: tuple[str, ...] | None = None,
                        seed: int = 0, shards: int | None = None, address: str | None = None,
                        progress: RowProgress | None = None, should_stop: StopCheck | None = None) -> Attribution:
    """`explain_tabular` of the model in `checkpoint` (a .pt2 file) for rows `x`, computed by Ray tasks.

    `shards` tasks (default: the cluster's CPUs) of one CPU each explain consecutive blocks of rows;
    `progress(rows_done, rows)` advances as blocks finish. Once `should_stop()` is true (checked after the first
    block) the unfinished blocks are cancelled and the result covers the rows of the finished blocks, in order
    (`stopped_early`; `rows` are their positions in `x`). Joins the cluster at `address` or starts a local one.
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2 or len(x) == 0:
        raise ExplanationError(ROWS_EMPTY)
    names = tuple(feature_names) if feature_names is not None else tuple(f"x{j}" for j in range(x.shape[1]))
    done, parts = _run_shards(_explain_shard, checkpoint, x, len(x), shards, address, progress, should_stop,
                              background=(background.data, background.weights, background.strategy),
                              method=method, output_index=output_index, feature_names=names, seed=seed)
    values, base, outputs = (np.concatenate([p[k] for p in parts]) for k in range(3))
    a = finish(values, base, x[done], outputs, method=method, feature_names=names, rows_requested=len(x))
    return replace(a, rows=done)


def explain_tabular_audit_ray(ctx: Any, checkpoint: str | Path, *, method: str = "deep", max_rows: int = 1000,
                              background_size: int = 100,
                              background_strategy: Literal["sample", "kmeans"] = "sample", seed: int = 0,
                              shards: int | None = None, address: str | None = None,
                              progress: RowProgress | None = None,
                              should_stop: StopCheck | None = None) -> TabularExplanation:
    """`explain_tabular_audit` (without its cross-checks) with the SHAP values computed by Ray tasks.

    The rows (a seeded sample of at most `max_rows`, in the same seeded order), the background and the explained
    output are chosen on the driver exactly as the local engine chooses them; `checkpoint` must hold `ctx.model`.
    Falls back to 'permutation' when `method` cannot explain the model, and says why. A run stopped by
    `should_stop()` covers the rows of the blocks finished by then (a seeded random part of the sample).
    """
    check_checkpoint(ctx, checkpoint)
    start = time.perf_counter()
    x_all = ctx.features()
    sampled = sample_rows(len(x_all), max_rows, seed=seed)
    background = summarize_background(x_all, size=background_size, strategy=background_strategy, seed=seed)
    labels, output_index = positive_output(ctx, sampled)
    order = np.random.default_rng([seed, 1]).permutation(len(sampled))  # the local engine's order
    options = dict(background=background, output_index=output_index, feature_names=tuple(ctx.feature_names),
                   seed=seed, shards=shards, address=address, progress=progress, should_stop=should_stop)
    fallback = None
    try:
        attribution = explain_tabular_ray(checkpoint, x_all[sampled[order]], method=method, **options)
    except ExplanationError as exc:
        if method == "permutation":
            raise
        fallback = str(exc)
        attribution = explain_tabular_ray(checkpoint, x_all[sampled[order]], method="permutation", **options)
    explained = sampled[order[attribution.rows]]
    by_row = np.argsort(explained, kind="stable")
    rows = explained[by_row]
    attribution = replace(attribution, values=attribution.values[by_row], base_values=attribution.base_values[by_row],
                          data=attribution.data[by_row], outputs=attribution.outputs[by_row], rows=rows)
    groups = by_group_importance(attribution, ctx.sensitive_features.iloc[rows].reset_index(drop=True))
    return TabularExplanation(
        attribution=attribution, rows=rows, by_group=groups, group_difference=group_difference(groups),
        cross_checks={"skipped": NOT_DISTRIBUTED},
        background={"size": int(len(background.data)), "strategy": background.strategy, "seed": seed},
        seconds=time.perf_counter() - start, fallback_reason=fallback, labels=tuple(labels),
        stopped_early=attribution.stopped_early, rows_requested=len(sampled))


def explain_texts_ray(checkpoint: str | Path, texts: list[str], *, positive_label: str, labels: tuple[str, ...],
                      output: Output = "logit", max_evals: int = DEFAULT_MAX_EVALS, shards: int | None = None,
                      address: str | None = None, progress: RowProgress | None = None,
                      should_stop: StopCheck | None = None) -> tuple[np.ndarray, list[TokenAttribution], list[bool]]:
    """`explain_texts` for the text model in `checkpoint` (a Hugging Face folder or .zip of one), by Ray tasks:
    the positions of the texts explained (all of them unless `should_stop()` ended the run), their token
    attributions and whether each was cut to the model's limit."""
    if not texts:
        raise ExplanationError(ROWS_EMPTY)
    done, parts = _run_shards(_explain_text_shard, checkpoint, list(texts), len(texts), shards, address, progress,
                              should_stop, positive_label=positive_label, labels=tuple(labels), output=output,
                              max_evals=max_evals)
    return done, [a for p in parts for a in p[0]], [c for p in parts for c in p[1]]


def explain_text_audit_ray(ctx: Any, checkpoint: str | Path, *, max_rows: int = 50, seed: int = 0,
                           max_evals: int = DEFAULT_MAX_EVALS, top: int = 20, min_count: int = 2,
                           output: Output = "logit", shards: int | None = None, address: str | None = None,
                           progress: RowProgress | None = None,
                           should_stop: StopCheck | None = None) -> TextExplanation:
    """`explain_text_audit` with the token SHAP values computed by Ray tasks: the same seeded sample of at most
    `max_rows` texts in the same seeded order, aggregated overall and per group. A run stopped by `should_stop()`
    covers the texts of the blocks finished by then (a seeded random part of the sample)."""
    check_checkpoint(ctx, checkpoint)
    start = time.perf_counter()
    texts = ctx.texts()
    sampled = sample_rows(len(texts), max_rows, seed=seed)
    order = np.random.default_rng([seed, 1]).permutation(len(sampled))  # the local engine's order
    done, attributions, truncated = explain_texts_ray(
        checkpoint, [texts[i] for i in sampled[order]], positive_label=ctx.positive_label, labels=tuple(ctx.classes),
        output=output, max_evals=max_evals, shards=shards, address=address, progress=progress,
        should_stop=should_stop)
    explained = sampled[order[done]]
    by_row = np.argsort(explained, kind="stable")
    rows = explained[by_row]
    attributions = [attributions[k] for k in by_row]
    truncated = [truncated[k] for k in by_row]
    sensitive = ctx.sensitive_features.iloc[rows].reset_index(drop=True)
    by_group = {str(col): {g: token_aggregates([a for a, gi in zip(attributions, sensitive[col]) if gi == g],
                                               top=top, min_count=min_count)
                           for g in sorted(set(sensitive[col]))}
                for col in sensitive.columns}
    return TextExplanation(attributions=tuple(attributions), rows=rows, truncated=tuple(truncated),
                           top_tokens=token_aggregates(attributions, top=top, min_count=min_count), by_group=by_group,
                           output=output, seconds=time.perf_counter() - start,
                           stopped_early=len(rows) < len(sampled), rows_requested=len(sampled))
