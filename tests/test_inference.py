import numpy as np
import pytest
import torch

import auditkit.prepare as prepare_module
from auditkit.audit import run_audit
from auditkit.prepare import prepare
from auditkit.checkpoints.loader import load_model
from auditkit.data.spec import AuditSpec
from auditkit.errors import DataValidationError, SettingsError
from auditkit.inference.device import resolve_device
from auditkit.inference.runner import predict

from tests.builders import in_process, tabular_frame, tabular_model, text_frame, tiny_bert


def test_text_batches_sorted_and_padded_equal_one_by_one(tmp_path):
    folder = tiny_bert(tmp_path / "bert")
    model, reference = load_model(folder), in_process(folder)
    texts = text_frame(n=37)["text"].tolist()
    batched = predict(model, texts, batch_size=8)
    expected = []
    with torch.inference_mode():
        for text in texts:
            logits = reference.module(**reference.tokenizer(text, return_tensors="pt")).logits
            expected.append(torch.softmax(logits, -1)[0].numpy())
    np.testing.assert_allclose(batched.probabilities, np.stack(expected), atol=1e-6)
    assert batched.indices.tolist() == np.stack(expected).argmax(1).tolist()


def test_tabular_batches_equal_a_single_pass_and_progress_is_reported(tmp_path):
    path = tabular_model(tmp_path / "m.pt2")
    model = load_model(path)
    x = tabular_frame(n=1000)[["x1", "x2"]].to_numpy(np.float32)
    seen = []
    small = predict(model, x, batch_size=64, progress=lambda d, t: seen.append((d, t)))
    whole = predict(model, x, batch_size=1000)
    np.testing.assert_allclose(small.probabilities, whole.probabilities, atol=1e-7)
    assert seen[0] == (64, 1000) and seen[-1] == (1000, 1000)
    logits = in_process(path).module(torch.from_numpy(x)).detach()
    np.testing.assert_allclose(whole.probabilities[:, 1], torch.sigmoid(logits).numpy(), atol=1e-6)


def test_bad_settings_are_refused(tmp_path):
    model = load_model(tabular_model(tmp_path / "m.pt2"))
    with pytest.raises(SettingsError, match="batch size 0 is out of range"):
        predict(model, np.zeros((2, 2), np.float32), batch_size=0)
    with pytest.raises(SettingsError, match="takes 2 features but the data has shape \\(2, 3\\)"):
        predict(model, np.zeros((2, 3), np.float32))
    with pytest.raises(SettingsError, match="unknown device"):
        resolve_device("quantum")
    if not torch.cuda.is_available():
        with pytest.raises(SettingsError, match="no CUDA GPU is available"):
            resolve_device("cuda")
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}


def test_reopening_an_audit_performs_no_inference(tmp_path, monkeypatch):
    data = tmp_path / "d.csv"
    tabular_frame().to_csv(data, index=False)
    model = tabular_model(tmp_path / "m.pt2")
    spec = AuditSpec(target="y", sensitive=("sex", "race"))
    first = prepare(data, spec, model=model)
    assert not first.cached

    def no_inference(*args, **kwargs):
        raise AssertionError("inference ran although the predictions are cached")
    monkeypatch.setattr(prepare_module, "predict", no_inference)
    second = prepare(data, spec, model=model)
    assert second.cached
    np.testing.assert_array_equal(first.y_pred, second.y_pred)
    np.testing.assert_array_equal(first.y_score, second.y_score)
    other = tmp_path / "other.csv"
    tabular_frame(seed=1).to_csv(other, index=False)
    with pytest.raises(AssertionError, match="inference ran"):
        prepare(other, spec, model=model)


def test_binary_model_maps_to_dataset_labels(tmp_path):
    frame = tabular_frame().assign(y=lambda f: np.where(f.y == 1, "approved", "denied"))
    data = tmp_path / "d.csv"
    frame.to_csv(data, index=False)
    ctx = prepare(data, AuditSpec(target="y", sensitive=("sex", "race"), positive_label="approved"),
                  model=tabular_model(tmp_path / "m.pt2"))
    assert set(ctx.y_pred) <= {"approved", "denied"}
    np.testing.assert_array_equal(ctx.y_pred == "approved", ctx.y_score >= 0.5)
    assert np.mean(ctx.y_pred == ctx.y_true) > 0.95


def test_text_model_classes_must_match_the_label(tmp_path):
    folder = tiny_bert(tmp_path / "bert", num_labels=3)
    data = tmp_path / "t.csv"
    text_frame().to_csv(data, index=False)
    with pytest.raises(DataValidationError, match="the model has 3 classes but label 'label' has 2"):
        prepare(data, AuditSpec(target="label", sensitive=("group",), text_column="text", positive_label="class_1"), model=folder)


def test_text_audit_uses_id2label_names(tmp_path):
    data = tmp_path / "t.csv"
    text_frame().to_csv(data, index=False)
    audit, ctx = run_audit(data, AuditSpec(target="label", sensitive=("group",), text_column="text", positive_label="class_1"),
                           model=tiny_bert(tmp_path / "bert"))
    probs = ctx.predictions.probabilities
    np.testing.assert_allclose(ctx.y_score, probs[:, 1], atol=1e-7)
    assert audit["predictions"]["accuracy"] == pytest.approx(np.mean(ctx.y_pred == ctx.y_true))
    assert audit["inputs"]["model_format"] == "hf-safetensors"


def test_predictions_only_audit(tmp_path):
    frame = tabular_frame().assign(pred=lambda f: (f.x1 > 0).astype(int), score=lambda f: 1 / (1 + np.exp(-f.x1)))
    data = tmp_path / "p.csv"
    frame.to_csv(data, index=False)
    audit, ctx = run_audit(data, AuditSpec(target="y", sensitive=("sex",), prediction_column="pred", score_column="score"))
    assert audit["predictions"]["source"] == "dataset"
    assert audit["predictions"]["accuracy"] == pytest.approx(np.mean(frame.pred == frame.y))
    assert audit["predictions"]["positive_rate"] == pytest.approx(frame.pred.mean())
    assert audit["inputs"]["model_sha256"] is None
    with pytest.raises(DataValidationError, match="nothing to audit"):
        prepare(data, AuditSpec(target="y", sensitive=("sex",)))
