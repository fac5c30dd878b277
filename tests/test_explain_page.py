"""The Explanations page on a seeded tabular audit: cards, charts with their tables, waterfall, cross-checks."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from tests.test_explain_section import biased_context

from auditkit.explain.base import ROW_OUT_OF_RANGE
from auditkit.explain.tabular import explain_row

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "explanations.py")


def test_page_without_audit_shows_the_empty_state():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert any("No audit yet" in i.value for i in at.info)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return biased_context(tmp_path_factory.mktemp("page"), n=400)


def test_tabular_page_shows_values_and_waterfall(ctx):
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["audit_context"] = ctx
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Method"] == "deep" and metrics["Units"] == "logit" and metrics["Rows explained"] == "400"
    assert float(metrics["Additivity error"]) < 1e-5
    importance = at.dataframe[0].value
    assert importance["feature"].tolist() == ["proxy", "income", "age", "noise"]
    assert len(at.get("plotly_chart")) == 1  # only the chosen tab runs

    charts = {}
    for tab in ("Beeswarm", "Dependence", "By group", "Cross-checks"):
        at.session_state["explain_tab"] = tab
        at.run()
        assert not at.exception, tab
        charts[tab] = len(at.get("plotly_chart"))
    assert charts == {"Beeswarm": 1, "Dependence": 1, "By group": 1, "Cross-checks": 0}
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Permutation importance vs SHAP"] != "n/a"
    assert float(metrics["LRP vs SHAP"]) == pytest.approx(1.0)
    at.session_state["explain_tab"] = "By group"
    at.run()
    assert any("proxy" in c.value and "differs most" in c.value for c in at.caption)

    at.session_state["explain_tab"] = "Waterfall"
    at.run()
    one = explain_row(ctx, 7)
    at.number_input(key="waterfall_row").set_value(7).run()
    assert not at.exception
    assert len(at.get("plotly_chart")) == 1
    assert any(f"model output {one.outputs[0]:.4f}" in c.value for c in at.caption)

    at.number_input(key="waterfall_row").set_value(400).run()
    assert not at.exception
    message = ROW_OUT_OF_RANGE.format(400, 400, 399)
    assert any("out of range" in e.value and "0 to 399" in e.value for e in at.error), message


def test_page_shows_the_audits_own_explanation_without_computing_it_again(ctx, monkeypatch):
    from dataclasses import replace

    from auditkit.explain.section import audit_explanation

    fresh = replace(ctx, data_sha256="r" * 64, _results={})  # no panel cache has this content yet
    section = audit_explanation(fresh).to_dict()
    monkeypatch.setattr("auditkit.explain.tabular.explain_tabular_audit",
                        lambda *a, **k: pytest.fail("the panel recomputed the audit's explanation"))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["audit_context"] = fresh
    at.run()
    assert not at.exception
    assert "explain_jobs" not in at.session_state  # nothing started in the background
    shown = at.dataframe[0].value
    assert dict(zip(shown["feature"], shown["mean_abs_shap"])) == pytest.approx(section["global_importance"])


def test_page_without_model_says_so(ctx):
    from dataclasses import replace

    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["audit_context"] = replace(ctx, model=None)
    at.run()
    assert not at.exception
    assert any("nothing to explain" in i.value for i in at.info)
