"""Efficiency variants on a tiny TabularMLP: int8 agrees with fp32, scores match direct computation, no mutation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from auditkit.checkpoints.handle import LoadedModel
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.energy.meter import EnergyMeter
from auditkit.energy.sources import ConstantPowerSource
from auditkit.energy.variants import compare_variants
from auditkit.errors import SettingsError
from auditkit.tabular import TabularMLP


@pytest.fixture(scope="module")
def tiny_audit():
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
    model.eval()
    frame = pd.DataFrame(x, columns=["f0", "f1", "f2", "f3"]).assign(group=group, label=y.astype(str))
    with torch.no_grad():
        y_pred = np.where(model(xt).numpy() > 0, "1", "0")
    spec = AuditSpec(target="label", sensitive=("group",), features=("f0", "f1", "f2", "f3"))
    loaded = LoadedModel(kind="tabular", module=model, sha256="0" * 64, fmt="pt2", n_outputs=1, n_features=4)
    ctx = AuditContext(spec=spec, frame=frame, data_sha256="1" * 64, y_true=frame["label"].to_numpy(str),
                       y_pred=y_pred, y_score=None, classes=("0", "1"), settings=Settings(), model=loaded)
    return ctx


def _meter() -> EnergyMeter:
    return EnergyMeter("USA", [ConstantPowerSource("cpu", 50.0)], sample_interval_s=None)


def test_int8_agrees_with_fp32_and_scores_match_direct_computation(tiny_audit):
    ctx = tiny_audit
    before = {k: v.clone() for k, v in ctx.model.module.state_dict().items()}
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
    # the shared model was not mutated (still float Linear layers, same weights)
    assert all(type(m) is torch.nn.Linear for m in ctx.model.module.net if not isinstance(m, torch.nn.ReLU))
    for k, v in ctx.model.module.state_dict().items():
        assert torch.equal(v, before[k])
    if not torch.cuda.is_available():
        assert set(report.skipped) == set() and len(report.rows) == 2


def test_gpu_variants_skipped_without_cuda_and_extra_variant_runs(tiny_audit):
    ctx = tiny_audit
    flipped = TabularMLP(4, hidden=(16, 16))  # an unrelated model: predictions differ
    report = compare_variants(ctx, meter=_meter(), extra={"other": flipped}, max_rows=200)
    names = [r.name for r in report.rows]
    assert report.n_rows == 200 and "other" in names
    if not torch.cuda.is_available():
        assert report.skipped == {"fp32-cuda": "needs a CUDA GPU", "fp16": "needs a CUDA GPU",
                                  "bf16": "needs a CUDA GPU"}
    d = report.to_dict()
    assert {"variants", "n_rows", "repeats", "skipped"} == set(d)
    assert d["variants"][0]["name"] == "fp32"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_half_precision_on_gpu_agrees_with_fp32(tiny_audit):
    report = compare_variants(tiny_audit, variants=("fp32", "fp16", "bf16"), meter=_meter())
    for r in report.rows[1:]:
        assert r.device == "cuda" and r.agreement_with_fp32 >= 0.95
    assert next(tiny_audit.model.module.parameters()).device.type == "cpu"


def test_no_model_or_unknown_variant_is_a_clear_error(tiny_audit):
    from dataclasses import replace

    with pytest.raises(SettingsError, match="need a loaded model"):
        compare_variants(replace(tiny_audit, model=None), meter=_meter())
    with pytest.raises(SettingsError, match="choose from fp32, int8-dynamic"):
        compare_variants(tiny_audit, variants=("int4",), meter=_meter())
