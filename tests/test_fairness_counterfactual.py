"""Counterfactual identity-term swaps: exact flip rates and shifts with a known scorer, and a real text model."""
from __future__ import annotations

import numpy as np
import pytest

from auditkit.errors import DataValidationError
from auditkit.fairness.counterfactual import counterfactual_test, runner_score_fn, swap_term


def _scorer(texts):
    """P(positive) 0.9 when the text mentions 'he', else 0.4: a model biased on gender."""
    p = np.array([0.9 if swap_term(t, "he", "#") != t else 0.4 for t in texts])
    return np.column_stack([1 - p, p])


def test_swap_keeps_case_and_whole_words():
    assert swap_term("He said the hero met him. HE left.", "he", "she") == "She said the hero met him. SHE left."


def test_flip_rate_and_shift_are_exact_for_a_known_scorer():
    texts = ["he was great", "she was great", "she liked it", "the food was fine", "He is a christian"]
    report = counterfactual_test(texts, _scorer, term_pairs={"gender": [("he", "she")],
                                                              "religion": [("christian", "muslim")]})
    pair = report.pairs.set_index("term_a").loc["he"]
    assert pair["texts"] == 4  # 2 texts with "he" and 2 with "she", each swapped
    assert pair["flip_rate"] == 1.0
    assert pair["mean_score_shift"] == pytest.approx(-0.5)  # he -> she always lowers the score by 0.5
    terms = report.terms.set_index("term")
    assert terms.loc["he", "mean_score_shift"] == pytest.approx(-0.5)
    assert terms.loc["she", "mean_score_shift"] == pytest.approx(0.5)
    religion = report.pairs.set_index("term_a").loc["christian"]
    assert religion["flip_rate"] == 0.0 and religion["mean_score_shift"] == pytest.approx(0.0)
    assert report.examples.iloc[0]["shift"] != 0
    assert set(report.to_dict()) == {"pairs", "terms", "worst_examples"}


def test_no_matching_terms_is_a_clear_error():
    with pytest.raises(DataValidationError, match="edit the term lists"):
        counterfactual_test(["nothing here"], _scorer)


def test_runs_through_the_inference_runner(tmp_path):
    from auditkit.checkpoints.loader import load_model
    from auditkit.inference.runner import predict
    from tests.builders import tiny_bert

    model = load_model(tiny_bert(tmp_path / "bert"))
    texts = ["she was very good", "he was not good", "the film was bad"]
    report = counterfactual_test(texts, runner_score_fn(model), term_pairs={"gender": [("he", "she")]})
    direct = predict(model, ["he was very good", "she was not good"]).probabilities[:, 1]
    before = predict(model, texts[:2]).probabilities[:, 1]
    shifts = report.examples.set_index("row")["shift"]
    np.testing.assert_allclose([shifts[0], shifts[1]], direct - before, atol=1e-6)
