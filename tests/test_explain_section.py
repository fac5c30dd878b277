"""The explanations section of audit.json on a tabular audit with an injected proxy bias."""
from __future__ import annotations

import json
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import torch

from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.explain import summarize_background
from auditkit.explain.lrp import lrp_relevance
from auditkit.explain.section import audit_explanation
from auditkit.explain.tabular import explain_tabular_audit, label_map
from auditkit.tabular import TabularMLP, export_tabular

FEATURES = ("proxy", "income", "age", "noise")
WEIGHTS = np.array([2.0, 1.0, 0.3, 0.0])  # on standardised features


def biased_context(tmp_path, n: int = 800, *, hidden: tuple[int, ...] = (),
                   wrap: Callable[[torch.nn.Module], torch.nn.Module] | None = None) -> AuditContext:
    """Group B has a higher `proxy` (a stand-in for a sensitive attribute) and the model leans on it. `wrap`, when
    given, wraps the model before it is exported."""
    rng = np.random.default_rng(0)
    group = rng.choice(["A", "B"], n)
    frame = pd.DataFrame({
        "proxy": (group == "B") * 2.0 + rng.normal(size=n),
        "income": rng.normal(50, 10, n),
        "age": rng.normal(40, 12, n),
        "noise": rng.normal(size=n),
        "group": group,
    })
    x = frame[list(FEATURES)].to_numpy(np.float32)
    torch.manual_seed(0)
    model = TabularMLP(len(FEATURES), hidden=hidden, mean=x.mean(0), std=x.std(0)).eval()
    if not hidden:
        with torch.no_grad():
            model.net[0].weight.copy_(torch.tensor(WEIGHTS[None], dtype=torch.float32))
            model.net[0].bias.fill_(-1.0)
    path = export_tabular(wrap(model) if wrap else model, len(FEATURES), tmp_path / "m.pt2")
    module = torch.export.load(str(path)).module()
    with torch.inference_mode():
        logit = module(torch.tensor(x)).numpy()
    frame["label"] = np.where(logit + rng.normal(scale=0.5, size=n) > 0, "1", "0")
    y_pred = np.where(logit > 0, "1", "0")
    spec = AuditSpec(target="label", sensitive=("group",), features=FEATURES)
    settings = Settings(home=tmp_path)
    return AuditContext(spec, frame, "d" * 64, frame["label"].to_numpy(str), y_pred, 1 / (1 + np.exp(-logit)),
                        ("0", "1"), settings, model=load_model(path, settings=settings))


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return biased_context(tmp_path_factory.mktemp("explain"))


def test_section_shape_and_values(ctx):
    section = audit_explanation(ctx).to_dict()
    json.dumps(section, allow_nan=False)
    assert section["method"] == "deep" and section["output"] == "logit"
    assert section["rows_explained"] == 800
    assert section["additivity_error"] < 1e-5
    assert list(section["global_importance"]) == ["proxy", "income", "age", "noise"]
    assert section["global_importance"]["noise"] == pytest.approx(0.0, abs=1e-6)
    groups = section["by_group"]["group"]
    assert set(groups) == {"A", "B"}
    # the injected bias: group B's mean SHAP for proxy is positive, group A's negative, and it leads the gap
    assert groups["B"]["proxy"] > 0.5 > -0.5 > groups["A"]["proxy"]
    assert next(iter(section["group_difference"]["group"])) == "proxy"


def test_per_group_means_equal_the_linear_formula(ctx):
    exp = explain_tabular_audit(ctx, cross_checks=False, max_rows=300, background_size=50)
    x = ctx.features().astype(np.float64)
    mean, std = x.mean(0), x.std(0)
    bg = summarize_background(ctx.features(), size=50, seed=0).data.astype(np.float64)
    phi = WEIGHTS * ((x[exp.rows] - mean) / std - ((bg - mean) / std).mean(0))
    groups = ctx.sensitive_features["group"].to_numpy()[exp.rows]
    for g in ("A", "B"):
        np.testing.assert_allclose([exp.by_group["group"][g][f] for f in FEATURES], phi[groups == g].mean(0),
                                   atol=1e-5)
    assert exp.rows.tolist() == sorted(exp.rows.tolist()) and len(exp.rows) == 300


def test_cross_checks_agree_with_shap_on_a_linear_model(ctx):
    checks = audit_explanation(ctx).to_dict()["cross_checks"]
    perm, lrp = checks["permutation"], checks["lrp"]
    assert perm["metric"] == "accuracy" and perm["n_repeats"] == 5
    assert next(iter(perm["importance"])) == "proxy"
    assert perm["std"]["proxy"] > 0
    assert perm["importance"]["noise"] == 0.0  # the model ignores it: shuffling changes nothing
    assert list(lrp["importance"]) == ["proxy", "income", "age", "noise"]
    assert lrp["agreement"]["spearman"] == pytest.approx(1.0)


def test_lrp_of_a_linear_mlp_is_weight_times_standardised_input(tmp_path):
    ctx = biased_context(tmp_path, n=200)
    x = ctx.features()[:20]
    z = (x - ctx.features().mean(0)) / ctx.features().std(0)
    rel = lrp_relevance(torch.export.load(str(tmp_path / "m.pt2")).module(), x, output_index=None)
    # epsilon rule on one Linear layer: R_j = w_j z_j * f(z) / (f(z) + eps * sign(f(z)))  (bias kept out of R)
    f = z @ WEIGHTS - 1.0
    expected = WEIGHTS * z * (f / (f + 1e-9 * np.sign(f)))[:, None]
    np.testing.assert_allclose(rel, expected, rtol=1e-4, atol=1e-5)


def test_mlp_section_is_additive_and_checks_lrp(tmp_path):
    ctx = biased_context(tmp_path, n=300, hidden=(16, 16))
    section = audit_explanation(ctx, max_rows=120).to_dict()
    assert section["rows_explained"] == 120
    assert section["additivity_error"] < 1e-5
    assert "importance" in section["cross_checks"]["lrp"]
    assert section["cross_checks"]["lrp"]["agreement"]["spearman"] is not None


def test_label_map_reads_the_audit_predictions():
    idx = np.array([0, 1, 1, 0])
    assert label_map(1, idx, np.array(["no", "yes", "yes", "no"]), ("no", "yes"), "yes") == ["no", "yes"]
    assert label_map(1, np.array([1, 1]), np.array(["yes", "yes"]), ("no", "yes"), "yes") == ["no", "yes"]
    assert label_map(3, np.array([2, 0]), np.array(["c", "a"]), ("a", "b", "c"), "a") == ["a", "b", "c"]


def test_no_model_section(ctx):
    from dataclasses import replace

    from auditkit.sections import build_sections

    assert build_sections(replace(ctx, model=None), ["explanations"]) == {
        "explanations": {"skipped": "no model was loaded; explanations need a model"}}


def test_model_without_gradients_falls_back_to_permutation(tmp_path):
    from auditkit.explain.tabular_shap import NO_GRADIENTS

    class NoGrad(torch.nn.Module):
        """The model with its output cut from the autograd graph (exported as aten.detach)."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x).detach()

    exp = explain_tabular_audit(biased_context(tmp_path, wrap=NoGrad), max_rows=30, background_size=20)
    section = exp.to_dict()
    assert section["method"] == "permutation" and section["fallback_reason"] == NO_GRADIENTS
    assert section["additivity_error"] < 1e-6
    assert next(iter(section["global_importance"])) == "proxy"
    assert "TabularMLP" in section["cross_checks"]["lrp"]["skipped"]


def test_an_explanation_that_cannot_run_gives_the_error_in_the_section(ctx):
    from auditkit.explain.base import ROWS_EMPTY
    from auditkit.sections import build_sections

    nobody = ctx.subset(np.zeros(len(ctx.frame), dtype=bool), "no rows")
    assert build_sections(nobody, ["explanations"]) == {"explanations": {"error": ROWS_EMPTY}}
