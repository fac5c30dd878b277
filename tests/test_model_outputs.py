"""Model outputs that are not usable logits: NaN or infinite values, a `[B, 1]` column, integer inputs; and
audit.json that is always strict JSON."""
import json
import math

import numpy as np
import pytest
import torch

from auditkit.audit import run_audit, write_audit
from auditkit.checkpoints.loader import load_model
from auditkit.data.spec import AuditSpec
from auditkit.errors import DataValidationError, ModelLoadError
from auditkit.inference.runner import checked_logits, predict
from auditkit.prepare import prepare
from auditkit.tabular import TabularMLP, export_tabular
from tests.builders import tabular_frame, tabular_model


def _mlp(first: float, second: float, *, binary: bool = True) -> TabularMLP:
    """A binary MLP whose logit is `second * relu(first * x1)` (unsqueezed `[B, 1]` when not `binary`)."""
    model = TabularMLP(2, hidden=(1,))
    with torch.no_grad():
        model.net[0].weight.zero_()
        model.net[0].bias.zero_()
        model.net[0].weight[0, 0] = first
        model.net[2].weight[0, 0] = second
        model.net[2].bias.zero_()
    model.binary = binary
    return model


def _strict(text: str):
    def refuse(name):
        raise AssertionError(f"{name} in audit.json")
    return json.loads(text, parse_constant=refuse)


def test_infinite_logits_are_refused_naming_how_many_rows(tmp_path):
    # the logit overflows float32 to +inf exactly on the rows with x1 > 0
    model = load_model(export_tabular(_mlp(1e30, 1e30), 2, tmp_path / "inf.pt2"))
    x = np.array([[-1.0, 0.0], [2.0, 0.0], [-3.0, 1.0], [0.5, 0.0], [4.0, 2.0]], np.float32)
    with pytest.raises(ModelLoadError) as err:
        predict(model, x)
    assert str(err.value) == ("the model gave NaN or infinite outputs for 3 of 5 rows (first at row 2); no audit is "
                              "computed from them. Fix: check the model's weights and the input values of those rows "
                              "(overflow, division by zero).")


def test_nan_logits_fail_the_whole_audit_with_the_message(tmp_path):
    module = _mlp(1.0, 1.0)
    with torch.no_grad():
        module.net[2].bias[0] = float("nan")
    path = export_tabular(module, 2, tmp_path / "nan.pt2")
    data = tmp_path / "d.csv"
    tabular_frame(100).to_csv(data, index=False)
    spec = AuditSpec(target="y", sensitive=("sex",), features=("x1", "x2"))
    with pytest.raises(ModelLoadError, match=r"NaN or infinite outputs for 100 of 100 rows \(first at row 1\)"):
        run_audit(str(data), spec, model=str(path))


def test_a_single_logit_column_is_the_binary_logit(tmp_path):
    column = load_model(export_tabular(_mlp(1.0, 2.0, binary=False), 2, tmp_path / "col.pt2"))
    flat = load_model(export_tabular(_mlp(1.0, 2.0), 2, tmp_path / "flat.pt2"))
    x = np.array([[-1.0, 0.0], [0.5, 0.0], [1.5, 3.0]], np.float32)
    got = predict(column, x)
    assert column.n_outputs == 1
    np.testing.assert_array_equal(got.probabilities, predict(flat, x).probabilities)
    np.testing.assert_allclose(got.probabilities[:, 1], [0.5, 1 / (1 + math.exp(-1.0)), 1 / (1 + math.exp(-3.0))],
                               rtol=1e-6)
    assert got.indices.tolist() == [0, 1, 1]


def test_a_single_logit_model_for_a_three_class_label_gets_a_message(tmp_path):
    path = export_tabular(_mlp(1.0, 2.0, binary=False), 2, tmp_path / "col.pt2")
    frame = tabular_frame(90).assign(y=["a", "b", "c"] * 30)
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    with pytest.raises(DataValidationError, match=r"the model has 2 classes but label 'y' has 3 \(a, b, c\)"):
        prepare(data, AuditSpec(target="y", sensitive=("sex",), features=("x1", "x2"), positive_label="a"), model=path)


def test_outputs_of_the_wrong_shape_are_named():
    with pytest.raises(ModelLoadError) as err:
        checked_logits(np.zeros((4, 3), np.float32), 4, 2)
    assert str(err.value).startswith("the model returned outputs of shape [4, 3] for 4 rows; expected [4, 2] "
                                     "(2 logits per row).")
    with pytest.raises(ModelLoadError, match=r"shape \[3\] for 4 rows; expected \[4\] \(one logit per row\)"):
        checked_logits(np.zeros(3, np.float32), 4, 1)


def test_integer_inputs_are_read_as_float32_features(tmp_path):
    model = load_model(tabular_model(tmp_path / "m.pt2"))
    ints = np.array([[1, 0], [-2, 1], [3, -4]], dtype=np.int64)
    np.testing.assert_array_equal(predict(model, ints).probabilities,
                                  predict(model, ints.astype(np.float32)).probabilities)


def test_audit_json_never_holds_nan_or_infinity(tmp_path):
    audit = {"a": float("nan"), "b": [np.float32("inf"), 1.5, (2, -math.inf)], "c": np.array([np.nan, 2.0]),
             "d": {"e": np.float64(-np.inf), "f": np.int64(7), "g": np.bool_(True), "h": None, "i": "NaN"}}
    text = write_audit(audit, tmp_path).read_text(encoding="utf-8")
    assert _strict(text) == {"a": None, "b": [None, 1.5, [2, None]], "c": [None, 2.0],
                             "d": {"e": None, "f": 7, "g": True, "h": None, "i": "NaN"}}
    with pytest.raises(TypeError, match="cannot serialise object"):
        write_audit({"x": object()}, tmp_path / "other")
