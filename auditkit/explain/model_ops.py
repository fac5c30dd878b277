"""The explanation steps that touch the model, as worker operations: they run in the model's worker
(`ModelHandle.run`) on the loaded model and return arrays and result records, never the model."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from auditkit.explain.base import Attribution, TokenAttribution
from auditkit.explain.text_model import TextScorer, positive_index
from auditkit.worker.ops import worker_op


@worker_op
def predicted(model: Any, x: np.ndarray) -> np.ndarray:
    """Predicted class index per row (tabular)."""
    from auditkit.explain.permutation import predicted_indices

    return predicted_indices(model.module, x)


@worker_op
def shap_rows(model: Any, x: np.ndarray, **options: Any) -> Attribution:
    """`explain_tabular` on the model (options as there, progress and stop checks called back)."""
    from auditkit.explain.methods import explain_tabular

    return explain_tabular(model.module, x, **options)


@worker_op
def permutation(model: Any, x: np.ndarray, y_true: np.ndarray, labels: Sequence[str], **options: Any) -> dict:
    """scikit-learn's permutation importance of the model's accuracy (`permutation_check`)."""
    from auditkit.explain.permutation import permutation_check

    return permutation_check(model.module, x, y_true, labels, **options)


@worker_op
def lrp(model: Any, x: np.ndarray, **options: Any) -> dict:
    """Layer-wise relevance per feature (`lrp_check`)."""
    from auditkit.explain.lrp import lrp_check

    return lrp_check(model.module, x, **options)


def scorer(model: Any, positive_label: str, labels: Sequence[str], *, output: str = "logit",
           batch_size: int = 128) -> TextScorer:
    """A TextScorer of the positive class for the loaded text model (worker)."""
    index = positive_index(model.n_outputs, model.class_names or tuple(labels), positive_label)
    return TextScorer(model.module, model.tokenizer, max_length=model.max_length, output=output,  # type: ignore[arg-type]
                      output_index=index, batch_size=batch_size)


@worker_op
def text_shap(model: Any, texts: list[str], target: dict[str, Any], **options: Any
              ) -> tuple[list[TokenAttribution], list[bool]]:
    """Partition SHAP of each text for the output `target` names (positive_label, labels, output)."""
    from auditkit.explain.text_shap import explain_texts

    attributions, truncated = explain_texts(scorer(model, **target), texts, **options)
    return list(attributions), list(truncated)


@worker_op
def text_integrated_gradients(model: Any, text: str, target: dict[str, Any], **options: Any
                              ) -> tuple[TokenAttribution, bool]:
    """Integrated Gradients of one text over its input embeddings."""
    from auditkit.explain.integrated_gradients import integrated_gradients

    return integrated_gradients(scorer(model, **target), text, **options)


@worker_op
def attention(model: Any, text: str) -> Any:
    """Attention maps of one text (`attention_maps`)."""
    from auditkit.explain.attention import attention_maps

    return attention_maps(model.module, model.tokenizer, text, max_length=model.max_length)
