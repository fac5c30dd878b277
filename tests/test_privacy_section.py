"""The privacy section of audit.json built from an AuditContext: PII, k-anonymity, MIA on split rows, DP record;
the typed report, its audit.json keys and its reading back."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.privacy.accounting import epsilon_spent
from auditkit.privacy.artifacts import save_dp_artifacts
from auditkit.outcome import Skipped
from auditkit.privacy.results import PrivacyReport
from auditkit.privacy.section import PRIVACY_KEY, privacy_report
from auditkit.privacy.training import dp_train
from auditkit.tabular import TabularMLP, export_tabular
from models.lending import FEATURES, SENSITIVE, TARGET, generate


def make_context(df, module, *, extra=None, program=None, tmp_path) -> AuditContext:
    """An audit context of `module` (exported to .pt2, or the DP `program` written for it) loaded in its worker."""
    spec = AuditSpec(target=TARGET, sensitive=SENSITIVE, features=FEATURES, extra=extra or {})
    settings = Settings(home=tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    module = module.eval()
    program = program or export_tabular(module, len(FEATURES), tmp_path / "model.pt2")
    x = torch.tensor(df[list(FEATURES)].to_numpy(np.float32))
    with torch.no_grad():
        score = torch.sigmoid(module(x)).numpy().astype(float)
    y_true = df[TARGET].astype(str).to_numpy()
    y_pred = np.where(score > 0.5, "1", "0")
    return AuditContext(spec, df, "d" * 64, y_true, y_pred, score, ("0", "1"), settings,
                        model=load_model(program, settings=settings))


@pytest.fixture(scope="module")
def demo():
    df = generate(500, seed=5)
    df["email"] = [f"user{i}@example.com" if i % 10 == 0 else "" for i in range(len(df))]
    train = df[df["split"] == "train"]
    X, y = train[list(FEATURES)].to_numpy(np.float32), train[TARGET].to_numpy()
    torch.manual_seed(0)
    result = dp_train(TabularMLP(len(FEATURES), hidden=(16,), mean=X.mean(0), std=X.std(0)), X, y,
                      target_epsilon=2.0, target_delta=1e-3, epochs=2, batch_size=50, baseline=False, curve_points=3)
    return df, result


def test_section_without_dp_record(demo, tmp_path):
    df, result = demo
    ctx = make_context(df, result.model, tmp_path=tmp_path)
    report = privacy_report(ctx)
    assert privacy_report(ctx) is report is ctx.recall(PRIVACY_KEY)  # computed once per audit context
    assert report.dp is None and report.k_anonymity.k >= 1 and report.pii.totals["email"] == 50
    s = report.to_dict()
    assert list(s) == ["pii", "k_anonymity", "membership_inference", "membership_inference_auc",
                       "membership_inference_advantage", "empirical_epsilon_lower_bound"]
    assert s["membership_inference_advantage"] == report.attack.advantage == s["membership_inference"]["advantage"]
    assert s["empirical_epsilon_lower_bound"] == report.attack.epsilon_lower_bound
    assert s["membership_inference"]["members"] == "rows with split=train" and not s["membership_inference"]["sampled"]
    assert s["pii"]["totals"]["email"] == 50 and s["pii"]["columns_with_pii"] == ["email"]
    assert s["k_anonymity"]["quasi_identifiers"] == list(SENSITIVE) and s["k_anonymity"]["k"] >= 1
    mia = s["membership_inference"]
    assert mia["n_members"] == int((df["split"] == "train").sum())
    assert mia["n_nonmembers"] == int((df["split"] == "test").sum())
    assert s["membership_inference_auc"] == mia["auc"] and 0.0 <= mia["auc"] <= 1.0
    assert {g["column"] for g in mia["groups"]} <= set(SENSITIVE) and mia["groups"]
    assert "epsilon" not in s and "dp" not in s
    json.dumps(s)


def test_section_with_dp_record(demo, tmp_path):
    df, result = demo
    paths = save_dp_artifacts(result, tmp_path / "dp")
    ctx = make_context(df, result.model, extra={"dp_record_path": str(paths["record"])}, program=paths["program"],
                       tmp_path=tmp_path)
    report = privacy_report(ctx)
    s = report.to_dict()
    assert list(s)[-3:] == ["dp", "epsilon", "delta"] and report.dp.epsilon == result.epsilon
    assert s["epsilon"] == result.epsilon and s["delta"] == 1e-3
    dp = s["dp"]
    assert dp["record_consistent"] and dp["matches_audited_model"] is True
    assert dp["epsilon_recomputed"]["rdp"] == pytest.approx(result.epsilon)
    assert dp["epsilon_recomputed"]["prv"] == pytest.approx(
        epsilon_spent(result.noise_multiplier, result.sample_rate, result.steps, delta=1e-3, accountant="prv"))
    assert s["membership_inference"]["delta"] == 1e-3
    assert s["empirical_epsilon_lower_bound"] <= result.epsilon
    json.dumps(s)


def test_section_skips_mia_without_split(demo, tmp_path):
    df, result = demo
    report = privacy_report(make_context(df.drop(columns=["split"]), result.model, tmp_path=tmp_path))
    assert report.membership_inference == Skipped(
        "the data has no 'split' column marking training rows (train) and held-out rows (test).")
    s = report.to_dict()
    assert s["membership_inference"] == {"skipped": report.membership_inference.reason}
    assert s["membership_inference_auc"] is s["membership_inference_advantage"] is None


def test_section_reads_back_from_audit_json(demo, tmp_path):
    df, result = demo
    paths = save_dp_artifacts(result, tmp_path / "dp")
    with_dp = make_context(df, result.model, extra={"dp_record_path": str(paths["record"])}, program=paths["program"],
                           tmp_path=tmp_path)
    without_split = make_context(df.drop(columns=["split"]), result.model, tmp_path=tmp_path / "no_split")
    for ctx in (with_dp, without_split):
        section = json.loads(json.dumps(privacy_report(ctx).to_dict()))
        assert PrivacyReport.from_dict(section).to_dict() == section
    read = PrivacyReport.from_dict(json.loads(json.dumps(privacy_report(with_dp).to_dict())))
    assert read.dp.epsilon == result.epsilon and read.attack.auc == privacy_report(with_dp).attack.auc
