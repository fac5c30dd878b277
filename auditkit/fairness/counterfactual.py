"""Counterfactual identity-term test for text models: swap identity terms in each text (he <-> she,
christian <-> muslim, ...) and measure how often the prediction flips and how far the score moves.

Term pairs are editable: pass your own `{category: [(term_a, term_b), ...]}`. Matching is whole-word and
case-insensitive; the replacement keeps the original's capitalisation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import pandas as pd

from auditkit.errors import DataValidationError
from auditkit.fairness import validation

if TYPE_CHECKING:
    from auditkit.families.handle import ModelHandle

ScoreFn = Callable[[list[str]], np.ndarray]  # texts -> class probabilities [n, n_classes]

DEFAULT_TERM_PAIRS: dict[str, list[tuple[str, str]]] = {
    "gender": [("he", "she"), ("him", "her"), ("his", "her"), ("man", "woman"), ("men", "women"), ("boy", "girl"),
               ("father", "mother"), ("husband", "wife"), ("brother", "sister"), ("son", "daughter"),
               ("john", "mary"), ("james", "emily")],
    "religion": [("christian", "muslim"), ("christian", "jewish"), ("christian", "hindu"), ("church", "mosque")],
    "nationality": [("american", "mexican"), ("american", "chinese"), ("american", "nigerian"),
                    ("british", "indian")],
    "sexual_orientation": [("straight", "gay"), ("heterosexual", "homosexual"), ("straight", "lesbian")],
    "race": [("white", "black"), ("european", "african")],
}
NO_TEXTS = "No texts to test; pass the audit's text column."
NO_MATCH = "None of the texts contains any of the identity terms; edit the term lists to match the data's vocabulary."


def _pattern(term: str) -> re.Pattern:
    return re.compile(rf"\b{re.escape(term)}\b", flags=re.IGNORECASE)


def _same_case(source: str, replacement: str) -> str:
    if source.isupper() and len(source) > 1:
        return replacement.upper()
    if source[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def swap_term(text: str, source: str, target: str) -> str:
    """`text` with every whole-word `source` replaced by `target`, keeping capitalisation."""
    return _pattern(source).sub(lambda m: _same_case(m.group(0), target), text)


@dataclass(frozen=True)
class CounterfactualReport:
    """Per term pair and per source term: texts changed, flip rate and mean score shift; the worst examples."""

    pairs: pd.DataFrame
    terms: pd.DataFrame
    examples: pd.DataFrame

    def to_dict(self) -> dict:
        return {"pairs": self.pairs.to_dict(orient="records"), "terms": self.terms.to_dict(orient="records"),
                "worst_examples": self.examples.to_dict(orient="records")}


def runner_score_fn(model: "ModelHandle", *, batch_size: int | None = None) -> ScoreFn:
    """Class probabilities from the audit's inference runner (`auditkit.inference.runner.predict`)."""
    from auditkit.inference.runner import predict

    return lambda texts: predict(model, texts, batch_size=batch_size).probabilities


def counterfactual_test(
    texts: Sequence[str],
    score_fn: ScoreFn,
    *,
    positive_index: int = 1,
    term_pairs: dict[str, list[tuple[str, str]]] | None = None,
    max_texts_per_term: int = 300,
    n_examples: int = 10,
    seed: int = 0,
) -> CounterfactualReport:
    """Swap each identity term for its partner (both directions), score originals and swaps in one batch each.

    A flip is a change of the predicted class (argmax); the score shift is P(class `positive_index`) of the swapped
    text minus that of the original. Per pair, shifts are signed from the first term to the second.
    """
    texts = [str(t) for t in texts]
    if not texts:
        raise DataValidationError(NO_TEXTS)
    validation.check_setting("max_texts_per_term", max_texts_per_term, max_texts_per_term >= 1, "at least 1")
    pairs = DEFAULT_TERM_PAIRS if term_pairs is None else term_pairs
    rng = np.random.default_rng(seed)
    jobs = []  # (category, term_a, term_b, source, target, text index, swapped text)
    for category, pair_list in pairs.items():
        for a, b in pair_list:
            for source, target in ((a, b), (b, a)):
                pattern = _pattern(source)
                hits = [i for i, t in enumerate(texts) if pattern.search(t)]
                if len(hits) > max_texts_per_term:
                    hits = sorted(rng.choice(hits, size=max_texts_per_term, replace=False).tolist())
                jobs += [(category, a, b, source, target, i, swap_term(texts[i], source, target)) for i in hits]
    if not jobs:
        raise DataValidationError(NO_MATCH)
    originals = sorted({j[5] for j in jobs})
    orig_probs = np.asarray(score_fn([texts[i] for i in originals]))
    where = {i: k for k, i in enumerate(originals)}
    swap_probs = np.asarray(score_fn([j[6] for j in jobs]))
    o = orig_probs[[where[j[5]] for j in jobs]]
    rows = pd.DataFrame(jobs, columns=["category", "term_a", "term_b", "source", "target", "row", "swapped_text"])
    rows["original_text"] = [texts[j[5]] for j in jobs]
    rows["original_score"] = o[:, positive_index]
    rows["swapped_score"] = swap_probs[:, positive_index]
    rows["shift"] = rows["swapped_score"] - rows["original_score"]
    rows["flipped"] = o.argmax(axis=1) != swap_probs.argmax(axis=1)
    rows["shift_a_to_b"] = np.where(rows["source"] == rows["term_a"], rows["shift"], -rows["shift"])
    by_pair = rows.groupby(["category", "term_a", "term_b"], sort=False).agg(
        texts=("row", "size"), flip_rate=("flipped", "mean"), mean_score_shift=("shift_a_to_b", "mean"),
        mean_abs_shift=("shift", lambda s: float(np.abs(s).mean()))).reset_index()
    by_term = rows.groupby(["category", "source"], sort=False).agg(
        texts=("row", "size"), flip_rate=("flipped", "mean"), mean_score_shift=("shift", "mean")).reset_index()
    by_term = by_term.rename(columns={"source": "term"})
    worst = rows.reindex(rows["shift"].abs().sort_values(ascending=False).index).head(n_examples)
    examples = worst[["category", "source", "target", "row", "original_text", "swapped_text", "original_score",
                      "swapped_score", "shift", "flipped"]].reset_index(drop=True)
    return CounterfactualReport(by_pair, by_term, examples)
