"""Column roles proposed before the user chooses: which column most likely holds a model's predictions."""
from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from auditkit.data.validate import as_label_strings

# Names a prediction column usually has, most telling first; a name whose words include one of PREDICTION_WORDS
# comes after them. A word of SCORE_WORDS marks a score or probability, never a prediction.
PREDICTION_NAMES = ("pred", "prediction", "predicted", "y_pred", "ypred", "y_hat", "yhat", "preds", "predictions",
                    "predicted_label", "pred_label", "predicted_class", "decision")
PREDICTION_WORDS = frozenset({"pred", "preds", "prediction", "predictions", "predicted", "yhat", "decision"})
SCORE_WORDS = frozenset({"score", "scores", "prob", "probs", "proba", "probability", "probabilities", "logit",
                         "logits", "confidence", "margin"})


def _words(name: str) -> list[str]:
    """A column name as lower-case words: "Predicted Label" and "predicted-label" are ["predicted", "label"]."""
    return [w for w in re.split(r"[^0-9a-z]+", name.lower()) if w]


def _name_rank(name: str) -> int | None:
    """How much a name looks like a prediction column's (lower is likelier), or None when it does not."""
    words = _words(name)
    if not words or SCORE_WORDS & set(words):
        return None
    joined = "_".join(words)
    if joined in PREDICTION_NAMES:
        return PREDICTION_NAMES.index(joined)
    return len(PREDICTION_NAMES) if PREDICTION_WORDS & set(words) else None


def _holds_labels(values: pd.Series, classes: set[str]) -> bool:
    """Whether every non-missing value is one of the label's classes (1.0 and "1" name the same class)."""
    present = values.dropna()
    return not present.empty and set(as_label_strings(present)) <= classes


def likely_prediction_column(frame: pd.DataFrame, target: str, exclude: Iterable[str] = ()) -> str | None:
    """The column of `frame` that most likely holds the model's predicted labels, or None when none does.

    A candidate must be named like a prediction (`pred`, `prediction`, `y_pred`, `decision`, `predicted_label`,
    or a name with one of those words; never a name with a score word such as `score` or `proba`) and hold only
    values of the label `target`'s classes. Among candidates the likeliest name wins, then the first in file
    order. `target` and the columns in `exclude` (other roles) are never proposed.
    """
    classes = set(as_label_strings(frame[target].dropna()))
    skip = {target, *exclude}
    ranked = [(rank, i, str(column)) for i, column in enumerate(frame.columns)
              if str(column) not in skip and (rank := _name_rank(str(column))) is not None
              and _holds_labels(frame[column], classes)]
    return min(ranked)[2] if ranked else None
