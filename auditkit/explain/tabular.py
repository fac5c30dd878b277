"""The tabular explanation of an audit: SHAP on a seeded sample of rows, per-group aggregates and cross-checks."""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from auditkit.explain.base import (
    CHUNK_ROWS,
    Attribution,
    ExplanationError,
    Progress,
    StopCheck,
    check_row,
    sample_rows,
    summarize_background,
)
from auditkit.explain.importance import by_group_importance, group_difference, rank_agreement
from auditkit.explain import model_ops

NO_MODEL = "No model is loaded, so there is nothing to explain; load a checkpoint and run the audit again."


@dataclass(frozen=True)
class TabularExplanation:
    """SHAP values for the explained rows plus their aggregates; `to_dict()` is the audit.json section.

    `rows` are the dataset rows explained (ascending). A run cut short (`stopped_early`) explained a seeded random
    part of the `rows_requested` sampled rows, and every aggregate and cross-check covers exactly those rows.
    """

    attribution: Attribution
    rows: np.ndarray
    by_group: dict[str, dict[str, dict[str, float]]]
    group_difference: dict[str, dict[str, float]]
    cross_checks: dict[str, Any]
    background: dict[str, Any]
    seconds: float
    fallback_reason: str | None = None
    labels: tuple[str, ...] = field(default=())
    stopped_early: bool = False
    rows_requested: int | None = None

    def to_dict(self) -> dict[str, Any]:
        a = self.attribution
        return {
            "kind": "tabular",
            "method": a.method,
            "output": a.output,
            "global_importance": a.global_importance(),
            "by_group": self.by_group,
            "group_difference": self.group_difference,
            "additivity_error": a.additivity_error,
            "base_value": float(a.base_values[0]) if len(a.base_values) else None,
            "rows_explained": int(len(self.rows)),
            "rows_requested": int(len(self.rows) if self.rows_requested is None else self.rows_requested),
            "stopped_early": self.stopped_early,
            "background": self.background,
            "cross_checks": self.cross_checks,
            "fallback_reason": self.fallback_reason,
            "seconds": self.seconds,
        }


def label_map(n_outputs: int, indices: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...],
              positive_label: str) -> list[str]:
    """The dataset label of each model output index, read off the audit's own predictions (most frequent match);
    indices never predicted get the remaining classes (a single-logit model: [other, positive]); when the audit's
    predictions do not come from this model (two outputs read as one label) the default order is used."""
    if n_outputs == 1:
        default = [next((c for c in classes if c != positive_label), positive_label), positive_label]
    else:
        default = list(classes)[:n_outputs]
    labels: list[str | None] = [None] * len(default)
    for k in range(len(default)):
        seen = y_pred[indices == k].astype(str)
        if len(seen):
            values, counts = np.unique(seen, return_counts=True)
            labels[k] = str(values[np.argmax(counts)])
    rest = [c for c in default if c not in labels]
    filled = [lab if lab is not None else rest.pop(0) for lab in labels]
    return filled if len(set(filled)) == len(filled) else default


def positive_output(ctx: Any, rows: np.ndarray) -> tuple[list[str], int | None]:
    """The label of each model output (read off the audit's predictions on `rows`) and the output to explain:
    None for a single-logit model, else the positive class's column."""
    indices = ctx.model.run(model_ops.predicted, ctx.features()[rows])
    labels = label_map(ctx.model.n_outputs, indices, np.asarray(ctx.y_pred)[rows], tuple(ctx.classes),
                       ctx.positive_label)
    if ctx.model.n_outputs == 1:
        return labels, None
    return labels, labels.index(ctx.positive_label) if ctx.positive_label in labels else 0


def explain_tabular_audit(ctx: Any, *, method: str = "deep", max_rows: int = 1000, background_size: int = 100,
                          background_strategy: Literal["sample", "kmeans"] = "sample", seed: int = 0,
                          cross_checks: bool = True, n_repeats: int = 5, progress: Progress | None = None,
                          should_stop: StopCheck | None = None,
                          chunk_size: int = CHUNK_ROWS) -> TabularExplanation:
    """Explain the audit's tabular model on a seeded sample of at most `max_rows` rows.

    Values are in logit units: the single logit of a binary model, else the logit of the positive class.
    When `method` needs gradients the model does not have, falls back to 'permutation' and says why.
    The sampled rows are explained in a seeded random order, `chunk_size` at a time, reporting
    `progress(rows_done, rows_sampled)`; once `should_stop()` is true the run ends after the current chunk and
    everything is computed on the rows explained so far (`stopped_early`, a random part of the sample).
    """
    if ctx.model is None:
        raise ExplanationError(NO_MODEL)
    start = time.perf_counter()
    model = ctx.model
    x_all = ctx.features()
    sampled = sample_rows(len(x_all), max_rows, seed=seed)
    background = summarize_background(x_all, size=background_size, strategy=background_strategy, seed=seed)
    labels, output_index = positive_output(ctx, sampled)
    names = tuple(ctx.feature_names)
    order = np.random.default_rng([seed, 1]).permutation(len(sampled))  # any first part is a random sample
    options = dict(output_index=output_index, feature_names=names, seed=seed, progress=progress,
                   should_stop=should_stop, chunk_size=chunk_size)
    fallback = None
    try:
        attribution = model.run(model_ops.shap_rows, x_all[sampled[order]], background=background, method=method,
                                **options)
    except ExplanationError as exc:
        if method == "permutation":
            raise
        fallback = str(exc)
        attribution = model.run(model_ops.shap_rows, x_all[sampled[order]], background=background,
                                method="permutation", **options)
    explained = sampled[order[:len(attribution.values)]]
    by_row = np.argsort(explained, kind="stable")
    rows = explained[by_row]
    attribution = replace(attribution, values=attribution.values[by_row],
                          base_values=attribution.base_values[by_row], data=attribution.data[by_row],
                          outputs=attribution.outputs[by_row], rows=rows)
    x = attribution.data
    sensitive = ctx.sensitive_features.iloc[rows].reset_index(drop=True)
    groups = by_group_importance(attribution, sensitive)
    checks: dict[str, Any] = {}
    if cross_checks:
        shap_imp = attribution.global_importance()
        perm = model.run(model_ops.permutation, x, np.asarray(ctx.y_true)[rows], labels, feature_names=names,
                         n_repeats=n_repeats, seed=seed)
        perm["agreement"] = rank_agreement(shap_imp, perm["importance"])
        checks["permutation"] = perm
        try:
            lrp = model.run(model_ops.lrp, x, output_index=output_index, feature_names=list(names))
            lrp["agreement"] = rank_agreement(shap_imp, lrp["importance"])
            checks["lrp"] = lrp
        except ExplanationError as exc:
            checks["lrp"] = {"skipped": str(exc)}
    return TabularExplanation(
        attribution=attribution, rows=rows, by_group=groups, group_difference=group_difference(groups),
        cross_checks=checks,
        background={"size": int(len(background.data)), "strategy": background.strategy, "seed": seed},
        seconds=time.perf_counter() - start, fallback_reason=fallback, labels=tuple(labels),
        stopped_early=attribution.stopped_early, rows_requested=len(sampled))


def explain_row(ctx: Any, row: int, *, method: str = "deep", background_size: int = 100,
                seed: int = 0) -> Attribution:
    """SHAP values of one dataset row (by position) against the audit's background, e.g. for a waterfall."""
    if ctx.model is None:
        raise ExplanationError(NO_MODEL)
    x_all = ctx.features()
    row = check_row(row, len(x_all))
    background = summarize_background(x_all, size=background_size, seed=seed)
    _, output_index = positive_output(ctx, sample_rows(len(x_all), 1000, seed=seed))
    attribution = ctx.model.run(model_ops.shap_rows, x_all[row:row + 1], background=background, method=method,
                                output_index=output_index, feature_names=tuple(ctx.feature_names), seed=seed)
    return Attribution(**{**attribution.__dict__, "rows": np.array([row])})
