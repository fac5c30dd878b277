"""Token-level SHAP for text classifiers: shap's Partition explainer with the model's tokenizer as masker."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from auditkit.explain.base import TokenAttribution
from auditkit.explain.text_model import TextScorer, fit_to_model

DEFAULT_MAX_EVALS = 500


def explain_texts(scorer: TextScorer, texts: Sequence[str], *, max_evals: int = DEFAULT_MAX_EVALS,
                  batch_size: int = 256) -> tuple[list[TokenAttribution], list[bool]]:
    """Partition SHAP values per token of each text, and whether each text had to be cut to the model's limit.

    Masked variants of a text are scored `batch_size` at a time (shap's text masker default is 5), which is
    where the speed comes from; for texts whose partition tree fits in `max_evals` the values do not depend on
    the batch size.
    """
    import shap

    fitted = [fit_to_model(t, scorer.tokenizer, scorer.limit) for t in texts]
    masker = shap.maskers.Text(scorer.tokenizer)
    explainer = shap.explainers.Partition(scorer, masker)
    result = explainer([t for t, _ in fitted], max_evals=max_evals, batch_size=batch_size, silent=True)
    outputs = scorer([t for t, _ in fitted])
    out = []
    for i in range(len(texts)):
        values = np.asarray(result.values[i], dtype=np.float64)
        base = float(np.asarray(result.base_values[i]).reshape(-1)[0])
        out.append(TokenAttribution(tokens=tuple(str(t) for t in result.data[i]), values=values, base_value=base,
                                    output_value=float(outputs[i]), method="partition", output=scorer.output))
    return out, [cut for _, cut in fitted]


def token_aggregates(attributions: Sequence[TokenAttribution], *, top: int = 20,
                     min_count: int = 2) -> list[dict[str, Any]]:
    """Tokens ranked by mean contribution (lower-cased, whitespace stripped), keeping those seen `min_count` times."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for a in attributions:
        for tok, v in zip(a.tokens, a.values):
            key = tok.strip().lower()
            if not key:
                continue
            sums[key] = sums.get(key, 0.0) + float(v)
            counts[key] = counts.get(key, 0) + 1
    rows = [{"token": k, "mean": sums[k] / counts[k], "count": counts[k]} for k in sums if counts[k] >= min_count]
    rows.sort(key=lambda r: (-abs(r["mean"]), r["token"]))
    return rows[:top]
