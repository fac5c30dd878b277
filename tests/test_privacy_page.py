"""The Privacy page: calculator without an audit, guarantee and leakage cards with one, background sweep."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from streamlit.testing.v1 import AppTest

from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.privacy.artifacts import save_dp_artifacts
from auditkit.privacy.section import privacy_report
from auditkit.privacy.training import dp_train
from auditkit.tabular import TabularMLP
from models.lending import FEATURES, SENSITIVE, TARGET, generate

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "privacy.py")


def _context(tmp_path, extra=None) -> tuple[AuditContext, object]:
    df = generate(400, seed=7)
    df["contact"] = [f"p{i}@example.com" if i < 40 else "" for i in range(len(df))]
    train = df[df["split"] == "train"]
    X, y = train[list(FEATURES)].to_numpy(np.float32), train[TARGET].to_numpy()
    torch.manual_seed(0)
    r = dp_train(TabularMLP(len(FEATURES), hidden=(8,), mean=X.mean(0), std=X.std(0)), X, y, target_epsilon=2.0,
                 target_delta=1e-3, epochs=1, batch_size=80, baseline=False, curve_points=3)
    paths = save_dp_artifacts(r, tmp_path / "dp")
    spec = AuditSpec(target=TARGET, sensitive=SENSITIVE, features=FEATURES,
                     extra={"dp_record_path": str(paths["record"])})
    settings = Settings(home=tmp_path)
    with torch.no_grad():
        score = torch.sigmoid(r.model(torch.tensor(df[list(FEATURES)].to_numpy(np.float32)))).numpy()
    ctx = AuditContext(spec, df, "d" * 64, df[TARGET].astype(str).to_numpy(), np.where(score > 0.5, "1", "0"),
                       score.astype(float), ("0", "1"), settings, model=load_model(paths["program"], settings=settings))
    return ctx, r


def test_calculator_without_audit():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert any("No audit yet" in i.value for i in at.info)
    at.number_input[0].set_value(1.5)
    at.number_input[1].set_value(0.04)
    at.number_input[2].set_value(2250)
    at.number_input[3].set_value(1e-5)
    at.button[-1].click().run()
    assert not at.exception
    assert at.metric[0].label == "Epsilon spent" and at.metric[0].value == f"{7.32911117143:.4f}"


def test_page_shows_guarantee_leakage_and_pii(tmp_path):
    ctx, r = _context(tmp_path)
    report = privacy_report(ctx)  # kept on the context: the page shows the audit's own result
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["audit_context"] = ctx
    metrics, frames, charts = {}, [], 0
    for tab in ("Guarantee", "Membership inference", "Personal data"):
        at.session_state["privacy_tab"] = tab
        at.run()
        assert not at.exception
        metrics |= {m.label: m.value for m in at.metric}
        frames += [df.value for df in at.dataframe]
        charts += len(at.get("plotly_chart"))
    assert metrics["Epsilon (ε)"] == f"{r.epsilon:.3f}"
    assert metrics["Formal guarantee"] == f"ε = {r.epsilon:.2f}"  # the summary cards above the tabs
    assert metrics["Personal data"] == f"{sum(report.pii.totals.values()):,} cells" != "0 cells"
    assert metrics["Noise multiplier"] == f"{r.noise_multiplier:.3f}"
    assert metrics["Attack AUC"] == f"{report.attack.auc:.3f}"
    assert metrics["k"] == str(report.k_anonymity.k)
    pii = next(f for f in frames if "masked examples" in f.columns)
    assert pii.iloc[0]["cells"] == 40 and "p***@example.com" in pii.iloc[0]["masked examples"]
    assert not any("p1@example.com" in f.to_string() for f in frames)
    assert charts >= 2  # epsilon curve and ROC


def test_sweep_runs_in_background(tmp_path):
    ctx, _ = _context(tmp_path)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["audit_context"] = ctx
    at.session_state["privacy_tab"] = "Train privately"
    at.run()
    next(n for n in at.number_input if n.label == "Epochs").set_value(1)
    next(n for n in at.number_input if n.label == "Batch size (expected)").set_value(32)
    at.text_input[0].set_value("2, 1")
    next(b for b in at.button if b.label == "Run the privacy-utility sweep").click().run()
    assert not at.exception
    [job] = [j for (name, _), j in at.session_state["privacy_jobs"].items() if name == "sweep"]
    assert job.wait(timeout=90)
    at.session_state["sweep_data"] = True  # open the table behind the chart
    at.run()
    assert not at.exception
    table = next(df.value for df in at.dataframe if "target_epsilon" in df.value.columns)
    assert list(table["target_epsilon"].dropna()) == [1.0, 2.0]
    assert all(table["epsilon"].dropna() <= table["target_epsilon"].dropna())


def test_page_for_predictions_only_audit(tmp_path):
    df = generate(200, seed=1)
    df["pred"] = df[TARGET].astype(str)
    spec = AuditSpec(target=TARGET, sensitive=("sex",), prediction_column="pred")
    ctx = AuditContext(spec, df, "e" * 64, df[TARGET].astype(str).to_numpy(), df["pred"].to_numpy(str), None,
                       ("0", "1"), Settings(home=tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["audit_context"] = ctx
    at.run()
    assert not at.exception
    assert any("No differential-privacy record" in i.value for i in at.info)
    at.session_state["privacy_tab"] = "Membership inference"
    at.run()
    assert any("not run: needs a loaded model" in i.value for i in at.info)
