"""The prediction column the Setup page proposes for a predictions-only dataset (auditkit.data.roles)."""
import pandas as pd
import pytest

from auditkit.data.roles import likely_prediction_column


def frame(**columns):
    return pd.DataFrame(columns)


LABEL = [1, 0, 1, 1, 0]


def test_a_score_column_first_in_the_file_is_never_the_prediction():
    data = frame(score=[0.9, 0.2, 0.7, 0.6, 0.1], y=LABEL, sex=list("ababa"), pred=[1, 0, 1, 0, 0])
    assert likely_prediction_column(data, "y", ["sex"]) == "pred"


@pytest.mark.parametrize("name", ["prediction", "Predicted", "y_pred", "Y-Pred", "yhat", "decision",
                                  "predicted_label", "model pred"])
def test_prediction_like_names_are_found(name):
    assert likely_prediction_column(frame(y=LABEL, age=[30, 41, 25, 60, 33], **{name: LABEL}), "y") == name


def test_the_likeliest_name_wins_then_file_order():
    data = frame(y=LABEL, decision=LABEL, model_pred=LABEL, prediction=LABEL, pred=LABEL)
    assert likely_prediction_column(data, "y") == "pred"  # "pred" ranks before "prediction" and "decision"
    assert likely_prediction_column(data, "y", ["pred"]) == "prediction"
    assert likely_prediction_column(data.drop(columns=["pred", "prediction"]), "y") == "decision"
    assert likely_prediction_column(frame(y=LABEL, pred_a=LABEL, pred_b=LABEL), "y") == "pred_a"


def test_values_must_be_label_classes():
    # A probability named like a prediction, labels of another vocabulary: neither is proposed.
    assert likely_prediction_column(frame(y=LABEL, pred=[0.9, 0.2, 0.7, 0.6, 0.1]), "y") is None
    assert likely_prediction_column(frame(y=LABEL, prediction=["yes", "no", "yes", "yes", "no"]), "y") is None
    # 1.0 and "1" name the same class; missing predictions do not disqualify a column.
    assert likely_prediction_column(frame(y=LABEL, pred=[1.0, 0.0, None, 1.0, 0.0]), "y") == "pred"
    assert likely_prediction_column(frame(y=["yes", "no"], predicted=["no", "no"]), "y") == "predicted"


def test_score_words_the_label_and_other_roles_are_never_proposed():
    assert likely_prediction_column(frame(y=LABEL, pred_proba=LABEL, prediction_score=LABEL), "y") is None
    assert likely_prediction_column(frame(pred=LABEL, x=LABEL), "pred") is None  # the label itself
    assert likely_prediction_column(frame(y=LABEL, pred=LABEL), "y", ["pred"]) is None
    assert likely_prediction_column(frame(y=LABEL, flag=LABEL, x=LABEL), "y") is None  # label-like values, no name
    assert likely_prediction_column(frame(y=LABEL, pred=[None] * 5), "y") is None  # nothing to judge by
