"""Efficiency variants on a tiny TabularMLP: int8 agrees with fp32, scores match direct computation, no mutation."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from auditkit.checkpoints.handle import LoadedModel
from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.energy.meter import EnergyMeter
from auditkit.energy.sources import ConstantPowerSource
from auditkit.energy.variants import compare_variants, variant_logits
from auditkit.errors import SettingsError
from auditkit.inference.runner import predict
from auditkit.tabular import TabularMLP, export_tabular


@pytest.fixture(scope="module")
def trained():
    """A TabularMLP trained on 600 rows where group a scores higher on feature 0, and its data."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    n = 600
    group = rng.choice(["a", "b"], size=n)
    x = rng.normal(size=(n, 4)).astype(np.float32) * 3 + 10
    x[:, 0] += (group == "a") * 2.0  # group a scores higher on feature 0
    logit = (x[:, 0] - 10) + 0.5 * (x[:, 1] - 10)
    y = (logit + rng.normal(scale=0.5, size=n) > 0).astype(int)
    model = TabularMLP(4, hidden=(16, 16), mean=x.mean(0), std=x.std(0))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y.astype(np.float32))
    for _ in range(150):
        opt.zero_grad()
        torch.nn.functional.binary_cross_entropy_with_logits(model(xt), yt).backward()
        opt.step()
    return model.eval(), x, y, group


@pytest.fixture(scope="module")
def tiny_audit(trained, tmp_path_factory):
    """The trained model exported to .pt2 and loaded in its worker, with its audit context."""
    model, x, y, group = trained
    folder = tmp_path_factory.mktemp("variants")
    settings = Settings(home=folder / "home")
    loaded = load_model(export_tabular(model, 4, folder / "model.pt2"), settings=settings)
    frame = pd.DataFrame(x, columns=["f0", "f1", "f2", "f3"]).assign(group=group, label=y.astype(str))
    with torch.no_grad():
        y_pred = np.where(model(torch.from_numpy(x)).numpy() > 0, "1", "0")
    spec = AuditSpec(target="label", sensitive=("group",), features=("f0", "f1", "f2", "f3"))
    return AuditContext(spec=spec, frame=frame, data_sha256="1" * 64, y_true=frame["label"].to_numpy(str),
                        y_pred=y_pred, y_score=None, classes=("0", "1"), settings=settings, model=loaded)


def _meter() -> EnergyMeter:
    return EnergyMeter("USA", [ConstantPowerSource("cpu", 50.0)], sample_interval_s=None)


def _features(ctx: AuditContext) -> np.ndarray:
    return ctx.frame[list(ctx.spec.features)].to_numpy(np.float32)


def _in_process(module: torch.nn.Module) -> LoadedModel:
    """The trained module as the worker holds a loaded .pt2 (for the variant builds that need real Linear layers)."""
    return LoadedModel(kind="tabular", module=module, sha256="0" * 64, fmt="pt2", n_outputs=1, n_features=4)


def test_int8_agrees_with_fp32_and_scores_match_direct_computation(tiny_audit, trained):
    ctx = tiny_audit
    before = predict(ctx.model, _features(ctx), device="cpu").probabilities
    report = compare_variants(ctx, variants=("fp32", "int8-dynamic"), meter=_meter(), repeats=2)
    rows = {r.name: r for r in report.rows}
    fp32, int8 = rows["fp32"], rows["int8-dynamic"]
    assert int8.agreement_with_fp32 >= 0.95
    # fp32 scores equal those computed directly from the audit's own predictions
    assert fp32.accuracy == pytest.approx(np.mean(ctx.y_pred == ctx.y_true), abs=1e-12)
    rates = pd.Series(ctx.y_pred == "1").groupby(ctx.frame["group"].to_numpy()).mean()
    assert fp32.demographic_parity_difference == pytest.approx(rates.max() - rates.min(), abs=1e-12)
    assert fp32.demographic_parity_difference > 0.1 and fp32.disparity_attribute == "group"
    assert fp32.agreement_with_fp32 == 1.0 and fp32.predictions == 2 * len(ctx.frame)
    # energy: 50 W over the phase; ms per 1k predictions and kWh per 1k predictions are both positive
    assert int8.kwh_per_1k_predictions > 0 and int8.ms_per_1k_predictions > 0
    assert fp32.energy_method == "estimated"
    # the model in the worker was not mutated: the same probabilities, bit for bit
    np.testing.assert_array_equal(predict(ctx.model, _features(ctx), device="cpu").probabilities, before)
    if not torch.cuda.is_available():
        assert set(report.skipped) == set() and len(report.rows) == 2


def test_int8_variant_quantizes_a_copy_of_the_linear_layers(trained):
    """On a module with nn.Linear layers the int8 build quantizes a copy: its predictions agree with fp32 and the
    loaded module keeps its float Linear layers and weights."""
    module, x, _, _ = trained
    loaded = _in_process(module)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    fp32 = variant_logits(loaded, "pt2", "fp32", x, batch_size=256, repeats=1)
    int8 = variant_logits(loaded, "pt2", "int8-dynamic", x, batch_size=256, repeats=1)
    assert np.abs(int8 - fp32).max() > 0  # quantized: not the float computation
    assert np.mean((int8 > 0) == (fp32 > 0)) >= 0.95
    assert all(type(m) is torch.nn.Linear for m in module.net if not isinstance(m, torch.nn.ReLU))
    for k, v in module.state_dict().items():
        assert torch.equal(v, before[k])


def test_gpu_variants_skipped_without_cuda(tiny_audit):
    report = compare_variants(tiny_audit, meter=_meter(), max_rows=200)
    names = [r.name for r in report.rows]
    assert report.n_rows == 200 and all(r.predictions == 200 for r in report.rows)
    if not torch.cuda.is_available():
        assert names == ["fp32", "int8-dynamic"]
        assert report.skipped == {"fp32-cuda": "needs a CUDA GPU", "fp16": "needs a CUDA GPU",
                                  "bf16": "needs a CUDA GPU"}
    else:
        assert names == ["fp32", "int8-dynamic", "fp32-cuda", "fp16", "bf16"] and report.skipped == {}
    d = report.to_dict()
    assert {"variants", "n_rows", "repeats", "skipped"} == set(d)
    assert d["variants"][0]["name"] == "fp32"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_half_precision_on_gpu_agrees_with_fp32(tiny_audit, trained):
    report = compare_variants(tiny_audit, variants=("fp32", "fp16", "bf16"), meter=_meter())
    for r in report.rows[1:]:
        assert r.device == "cuda" and r.agreement_with_fp32 >= 0.95
    module, x, _, _ = trained
    for variant in ("fp16", "bf16"):
        variant_logits(_in_process(module), "pt2", variant, x, batch_size=256, repeats=1)
    assert next(module.parameters()).device.type == "cpu"  # the variants ran on copies


def test_no_model_or_unknown_variant_is_a_clear_error(tiny_audit):
    with pytest.raises(SettingsError, match="need a loaded model"):
        compare_variants(replace(tiny_audit, model=None), meter=_meter())
    with pytest.raises(SettingsError, match="choose from fp32, int8-dynamic"):
        compare_variants(tiny_audit, variants=("int4",), meter=_meter())
