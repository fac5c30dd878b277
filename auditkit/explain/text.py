"""The text explanation of an audit: token SHAP on a seeded sample of texts, aggregated overall and per group."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from auditkit.explain.base import (
    ExplanationError,
    Output,
    Progress,
    StopCheck,
    TokenAttribution,
    check_row,
    sample_rows,
)
from auditkit.explain.tabular import NO_MODEL
from auditkit.explain import model_ops
from auditkit.explain.text_shap import token_aggregates


@dataclass(frozen=True)
class TextExplanation:
    """Token attributions of the explained texts and their aggregates; `to_dict()` is the audit.json section.

    `rows` are the dataset rows explained (ascending). A run cut short (`stopped_early`) explained a seeded random
    part of the `rows_requested` sampled texts, and every aggregate covers exactly those texts.
    """

    attributions: tuple[TokenAttribution, ...]
    rows: np.ndarray
    truncated: tuple[bool, ...]
    top_tokens: list[dict[str, Any]]
    by_group: dict[str, dict[str, list[dict[str, Any]]]]
    output: Output
    seconds: float
    stopped_early: bool = False
    rows_requested: int | None = None

    @property
    def additivity_error(self) -> float:
        return max((a.additivity_error for a in self.attributions), default=0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "text",
            "method": "partition",
            "output": self.output,
            "top_tokens": self.top_tokens,
            "by_group": self.by_group,
            "additivity_error": self.additivity_error,
            "rows_explained": int(len(self.rows)),
            "rows_requested": int(len(self.rows) if self.rows_requested is None else self.rows_requested),
            "stopped_early": self.stopped_early,
            "texts_truncated": int(sum(self.truncated)),
            "seconds": self.seconds,
        }


def text_target(ctx: Any, output: Output = "logit") -> dict[str, Any]:
    """Which output a text explanation explains: the audit's positive label among its labels, in `output` units."""
    return {"positive_label": ctx.positive_label, "labels": tuple(ctx.classes), "output": output}


def explain_text_audit(ctx: Any, *, max_rows: int = 50, seed: int = 0, max_evals: int = 500, top: int = 20,
                       min_count: int = 2, output: Output = "logit",
                       progress: Progress | None = None, should_stop: StopCheck | None = None) -> TextExplanation:
    """Token SHAP for a seeded sample of at most `max_rows` texts (texts over the model's limit are cut, and counted).

    The sampled texts are explained in a seeded random order; `progress(done, total)` reports texts explained, and
    once `should_stop()` is true no further text is started: the result covers the texts explained so far
    (`stopped_early`, a random part of the sample)."""
    if ctx.model is None:
        raise ExplanationError(NO_MODEL)
    start = time.perf_counter()
    texts = ctx.texts()
    sampled = sample_rows(len(texts), max_rows, seed=seed)
    order = np.random.default_rng([seed, 1]).permutation(len(sampled))  # any first part is a random sample
    done, cut = ctx.model.run(model_ops.text_shap, [texts[i] for i in sampled[order]], text_target(ctx, output),
                              max_evals=max_evals, progress=progress, should_stop=should_stop)
    explained = sampled[order[:len(done)]]
    by_row = np.argsort(explained, kind="stable")
    rows = explained[by_row]
    attributions = [done[k] for k in by_row]
    truncated = [cut[k] for k in by_row]
    sensitive = ctx.sensitive_features.iloc[rows].reset_index(drop=True)
    by_group: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for col in sensitive.columns:
        groups = sensitive[col].to_numpy()
        by_group[str(col)] = {
            g: token_aggregates([a for a, gi in zip(attributions, groups) if gi == g], top=top, min_count=min_count)
            for g in sorted(set(groups))
        }
    return TextExplanation(attributions=tuple(attributions), rows=rows, truncated=tuple(truncated),
                           top_tokens=token_aggregates(attributions, top=top, min_count=min_count),
                           by_group=by_group, output=output, seconds=time.perf_counter() - start,
                           stopped_early=len(rows) < len(sampled), rows_requested=len(sampled))


def explain_text_row(ctx: Any, row: int, *, max_evals: int = 500, output: Output = "logit"
                     ) -> tuple[TokenAttribution, bool]:
    """Token SHAP of one text (by position) and whether it was cut to the model's limit."""
    if ctx.model is None:
        raise ExplanationError(NO_MODEL)
    texts = ctx.texts()
    row = check_row(row, len(texts))
    attributions, truncated = ctx.model.run(model_ops.text_shap, [texts[row]], text_target(ctx, output),
                                            max_evals=max_evals)
    return attributions[0], truncated[0]


def attention_row(ctx: Any, row: int) -> Any:
    """Attention maps (per layer and head, and rollout) of one text (by position)."""
    if ctx.model is None:
        raise ExplanationError(NO_MODEL)
    texts = ctx.texts()
    return ctx.model.run(model_ops.attention, texts[check_row(row, len(texts))])


def integrated_gradients_row(ctx: Any, row: int) -> tuple[TokenAttribution, bool]:
    """Integrated Gradients of one text (by position) and whether it was cut to the model's limit."""
    if ctx.model is None:
        raise ExplanationError(NO_MODEL)
    texts = ctx.texts()
    return ctx.model.run(model_ops.text_integrated_gradients, texts[check_row(row, len(texts))], text_target(ctx))
