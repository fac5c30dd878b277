"""SHAP on Ray: the same values, importances and group aggregates as the local engine for the same rows."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from auditkit.checkpoints.handle import LoadedModel
from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.errors import ModelLoadError, SettingsError, UnsafeModelError
from auditkit.explain.base import explain_tabular, summarize_background
from auditkit.explain.tabular import explain_tabular_audit
from auditkit.explain.text import explain_text_audit
from auditkit.hashing import sha256_file
from auditkit.tabular import TabularMLP, export_tabular
from tests.builders import Canary, text_frame, tiny_bert

FEATURES = ("proxy", "income", "age", "noise", "tenure")


def context(tmp_path, n: int = 3000, *, n_classes: int = 2) -> tuple[AuditContext, object]:
    """An MLP audit where group B has a higher `proxy`; the model is exported to .pt2 and loaded from it."""
    rng = np.random.default_rng(1)
    group = rng.choice(["A", "B"], n)
    frame = pd.DataFrame({"proxy": (group == "B") * 2.0 + rng.normal(size=n), "income": rng.normal(50, 10, n),
                          "age": rng.normal(40, 12, n), "noise": rng.normal(size=n), "tenure": rng.exponential(3, n),
                          "group": group})
    x = frame[list(FEATURES)].to_numpy(np.float32)
    torch.manual_seed(0)
    model = TabularMLP(len(FEATURES), hidden=(16, 8), n_classes=n_classes, mean=x.mean(0), std=x.std(0)).eval()
    path = export_tabular(model, len(FEATURES), tmp_path / f"m{n_classes}.pt2")
    module = torch.export.load(str(path)).module()
    with torch.inference_mode():
        out = module(torch.tensor(x))
    pred = (out > 0).long().numpy() if n_classes == 2 else out.argmax(1).numpy()
    labels = np.array([str(c) for c in range(n_classes)])
    frame["label"] = labels[rng.integers(0, n_classes, n)]
    spec = AuditSpec(target="label", sensitive=("group",), features=FEATURES, positive_label="1")
    loaded = LoadedModel(kind="tabular", module=module, sha256=sha256_file(path), fmt="pt2",
                         n_outputs=1 if n_classes == 2 else n_classes, n_features=len(FEATURES))
    ctx = AuditContext(spec, frame, "d" * 64, frame["label"].to_numpy(str), labels[pred], None, tuple(labels),
                       Settings(home=tmp_path), model=loaded)
    return ctx, path


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    return context(tmp_path_factory.mktemp("scale_explain"))


@pytest.fixture(scope="module")
def local_explanation(binary):
    ctx, _ = binary
    return explain_tabular_audit(ctx, max_rows=800, cross_checks=False, seed=7)


def test_audit_shap_on_ray_equals_local(ray_cluster, binary, local_explanation):
    from auditkit.scale.explain import explain_tabular_audit_ray

    ctx, path = binary
    local = local_explanation
    seen: list[tuple[int, int]] = []
    remote = explain_tabular_audit_ray(ctx, path, max_rows=800, seed=7, shards=3,
                                       progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_array_equal(remote.rows, local.rows)
    np.testing.assert_array_equal(remote.attribution.rows, local.attribution.rows)
    np.testing.assert_allclose(remote.attribution.values, local.attribution.values, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(remote.attribution.outputs, local.attribution.outputs, rtol=1e-6, atol=1e-12)
    np.testing.assert_array_equal(remote.attribution.base_values, local.attribution.base_values)
    a, b = remote.to_dict(), local.to_dict()
    assert list(a["global_importance"]) == list(b["global_importance"])
    assert a["global_importance"] == pytest.approx(b["global_importance"], rel=1e-9)
    assert a["by_group"]["group"]["B"] == pytest.approx(b["by_group"]["group"]["B"], rel=1e-9)
    assert a["additivity_error"] < 1e-6 and a["rows_explained"] == 800 and a["background"] == b["background"]
    assert not a["stopped_early"] and a["cross_checks"]["skipped"].startswith("cross-checks")
    # The injected proxy bias shows: group B's mean attribution on `proxy` is above group A's.
    assert a["by_group"]["group"]["B"]["proxy"] > a["by_group"]["group"]["A"]["proxy"]
    assert len(seen) == 3 and seen[-1] == (800, 800) and seen[0][0] in (266, 267)


def test_stopped_run_keeps_the_finished_blocks_values(ray_cluster, binary, local_explanation):
    from auditkit.scale.explain import explain_tabular_audit_ray

    ctx, path = binary
    local = local_explanation
    remote = explain_tabular_audit_ray(ctx, path, max_rows=800, seed=7, shards=4, should_stop=lambda: True)
    assert remote.stopped_early and remote.rows_requested == 800 and len(remote.rows) == 200
    assert np.all(np.diff(remote.rows) > 0) and set(remote.rows) <= set(local.rows)
    at = np.searchsorted(local.rows, remote.rows)
    np.testing.assert_allclose(remote.attribution.values, local.attribution.values[at], rtol=1e-6, atol=1e-12)
    # A seeded random part of the sample, not the first rows.
    assert remote.rows.max() > local.rows[300]


def test_multiclass_output_and_shard_count_do_not_change_values(ray_cluster, tmp_path):
    from auditkit.scale.explain import explain_tabular_ray

    ctx, path = context(tmp_path, n=400, n_classes=3)
    x = ctx.features()[:150]
    background = summarize_background(ctx.features(), size=40, seed=3)
    local = explain_tabular(ctx.model.module, x, background=background, output_index=2, seed=3)
    for shards in (1, 2):
        remote = explain_tabular_ray(path, x, background=background, output_index=2, seed=3, shards=shards)
        np.testing.assert_allclose(remote.values, local.values, rtol=1e-6, atol=1e-12)
        assert remote.global_importance() == pytest.approx(local.global_importance(), rel=1e-9)
        assert remote.additivity_error == pytest.approx(local.additivity_error, abs=1e-9)


def test_pickled_checkpoint_is_refused_in_the_task(ray_cluster, tmp_path):
    from auditkit.scale.explain import explain_tabular_ray

    canary = tmp_path / "canary"
    bad = tmp_path / "model.pt"
    bad.write_bytes(pickle.dumps(Canary(canary)))
    x = np.zeros((4, 2), dtype=np.float32)
    with pytest.raises(UnsafeModelError, match="pickle"):
        explain_tabular_ray(bad, x, background=summarize_background(x, size=2))
    assert not canary.exists()
    with pytest.raises(ModelLoadError, match="does not exist"):
        explain_tabular_ray(tmp_path / "missing.pt2", x, background=summarize_background(x, size=2))


def test_audit_refuses_a_checkpoint_other_than_the_audits_model(binary, tmp_path):
    from auditkit.scale.explain import explain_tabular_audit_ray

    ctx, _ = binary
    other = export_tabular(TabularMLP(len(FEATURES), hidden=(4,)), len(FEATURES), tmp_path / "other.pt2")
    with pytest.raises(SettingsError, match="is not the checkpoint of the audit's model"):
        explain_tabular_audit_ray(ctx, other)


def test_text_shap_on_ray_equals_local(ray_cluster, tmp_path):
    from auditkit.scale.explain import explain_text_audit_ray

    folder = tiny_bert(tmp_path / "bert")
    frame = text_frame(30, seed=2)
    settings = Settings(home=tmp_path / "home")
    model = load_model(folder, settings=settings)
    spec = AuditSpec(target="label", sensitive=("group",), text_column="text", positive_label="class_1")
    ctx = AuditContext(spec, frame, "d" * 64, frame["label"].to_numpy(str), frame["label"].to_numpy(str), None,
                       ("class_0", "class_1"), settings, model=model)
    local = explain_text_audit(ctx, max_rows=6, seed=4, max_evals=60)
    remote = explain_text_audit_ray(ctx, folder, max_rows=6, seed=4, max_evals=60, shards=2)
    np.testing.assert_array_equal(remote.rows, local.rows)
    for r, lo in zip(remote.attributions, local.attributions):
        assert r.tokens == lo.tokens
        np.testing.assert_allclose(r.values, lo.values, rtol=1e-5, atol=1e-6)
        assert r.base_value == pytest.approx(lo.base_value, abs=1e-6)
    a, b = remote.to_dict(), local.to_dict()
    assert [t["token"] for t in a["top_tokens"]] == [t["token"] for t in b["top_tokens"]]
    assert a["rows_explained"] == 6 and a["additivity_error"] < 1e-5
    assert set(a["by_group"]["group"]) == set(b["by_group"]["group"]) == {"g1", "g2"}


def test_model_folder_with_a_link_is_refused_before_shipping(tmp_path):
    from auditkit.scale.explain import checkpoint_bytes

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "weights.safetensors").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafeModelError, match="symbolic link 'weights.safetensors'"):
        checkpoint_bytes(folder)
