"""The Fairness page renders a seeded audit: cards, sentences, warnings, charts and the threshold explorer."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from auditkit.chart_style import OKABE_ITO
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.fairness.errors_analysis import error_cohorts
from auditkit.fairness.section import build_section
from auditkit.fairness.thresholds import threshold_sweep

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "fairness.py")


def _context(tmp_path, *, scores: bool = True, n: int = 3000) -> AuditContext:
    """Women are approved about half as often as men; group 'x' of band is tiny."""
    rng = np.random.default_rng(0)
    sex = rng.choice(["woman", "man"], n)
    band = np.where(np.arange(n) < 10, "x", rng.choice(["y", "z"], n))
    score = np.clip(rng.random(n) - np.where(sex == "woman", 0.25, 0.0), 0, 1)
    frame = pd.DataFrame({"sex": sex, "band": band, "label": np.where(rng.random(n) < 0.5, "1", "0"),
                          "pred": np.where(score >= 0.5, "1", "0"), "score": score})
    spec = AuditSpec(target="label", sensitive=("sex", "band"), prediction_column="pred",
                     score_column="score" if scores else None)
    return AuditContext(spec, frame, "f" * 64, frame["label"].to_numpy(str), frame["pred"].to_numpy(str),
                        score if scores else None, ("0", "1"), Settings(home=tmp_path))


TABLES = ("bars_data", "heat_data", "threshold_data", "mitigation_data", "front_data", "cohorts_data", "heatmap_data",
          "counterfactual_data")  # the expanders holding the tables behind the charts


def _app(ctx, tab: str = "Group metrics", *, tables: bool = True) -> AppTest:
    """The page on `tab`, with the tables behind the charts opened (`tables`) or left collapsed."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["audit_context"] = ctx
    at.session_state["audit"] = {"fairness": build_section(ctx)}
    at.session_state["fairness_tab"] = tab
    for key in TABLES:
        at.session_state[key] = tables
    return at.run()


def test_tables_behind_charts_are_sent_only_when_opened(tmp_path):
    ctx = _context(tmp_path)
    assert len(_app(ctx, tables=False).dataframe) == 0
    opened = _app(ctx)
    assert [d.value.shape[0] for d in opened.dataframe] == [2, 6]  # by group (woman, man); 3 metrics x 2 groups


def test_chosen_metrics_are_the_bars(tmp_path):
    ctx = _context(tmp_path)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["audit_context"] = ctx
    at.session_state["bar_metrics_sex"] = ["accuracy", "precision"]
    at.session_state["bars_data"] = True
    at.run()
    assert not at.exception
    [chart] = at.get("plotly_chart")
    spec = json.loads(chart.proto.spec)
    assert [t["name"] for t in spec["data"]] == ["Accuracy", "Precision"]
    assert spec["layout"]["template"]["layout"]["colorway"] == list(OKABE_ITO)  # AuditKit's chart style
    assert chart.proto.theme == ""  # not Streamlit's chart theme
    assert set(at.dataframe[1].value["metric"]) == {"accuracy", "precision"}


def test_page_without_audit_shows_the_empty_state():
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert any("No audit yet" in i.value for i in at.info)


def test_page_shows_cards_sentences_and_warnings(tmp_path):
    ctx = _context(tmp_path)
    at = _app(ctx)
    assert not at.exception
    section = build_section(ctx)["sex"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Demographic parity difference"] == f"{section['demographic_parity_difference']:.3f}"
    assert metrics["Four-fifths rule"] == f"{section['four_fifths_rule']['ratio']:.2f}x"
    assert section["four_fifths_rule"]["passed"] is False
    assert any("below the four\\-fifths rule" in m.value for m in at.markdown)
    assert any(":red-badge[:material/cancel: Fail]" in m.value for m in at.markdown)
    assert not at.error  # a finding is a badge, not an error box
    assert any("at most 0" in c.value for c in at.caption)
    at.selectbox[0].set_value("band").run()
    assert not at.exception
    assert any("'x' has 10 rows" in w.value for w in at.warning)
    assert len(at.get("plotly_chart")) == 1  # only the chosen tab runs
    at.session_state["fairness_tab"] = "Error analysis"
    at.run()
    assert not at.exception
    cohorts = next(d.value for d in at.dataframe if "error_rate" in getattr(d.value, "columns", []))
    assert cohorts["size"].sum() == 3000
    heat_counts = [d.value for d in at.dataframe if d.value.shape == (2, 3) and d.value.dtypes.iloc[0].kind == "i"]
    assert heat_counts and heat_counts[0].to_numpy().sum() == 3000  # sex x band cells cover every row


def test_threshold_tab_draws_the_explorer_over_the_audits_sweep(tmp_path):
    ctx = _context(tmp_path)
    at = _app(ctx, "Threshold")
    assert not at.exception
    [chart] = at.get("plotly_chart")
    slider = json.loads(chart.proto.spec)["layout"]["sliders"][0]
    sweep = threshold_sweep(ctx.y_true, ctx.y_score, ctx.sensitive_features)
    assert slider["active"] == 50 and len(slider["steps"]) == 101
    bars = slider["steps"][90]["args"][0]["y"][0]  # selection rates per group at threshold 0.9
    assert bars == pytest.approx(list(sweep["sex"].metrics["selection_rate"][90]), abs=1e-6)  # 6 decimals sent
    tables = [d.value for d in at.dataframe]
    assert any(t.shape == (101, 6) for t in tables)  # disparities at every threshold, behind the chart


def test_page_without_scores_explains_the_missing_slider(tmp_path):
    at = _app(_context(tmp_path, scores=False), "Threshold")
    assert not at.exception
    assert any("binary models with scores" in i.value for i in at.info)


def test_mitigation_tab_runs_and_offers_the_csv(tmp_path):
    at = _app(_context(tmp_path), "Mitigation")
    at.button(key="mit_run").click().run()
    assert not at.exception
    tables = [d.value for d in at.dataframe]
    comparison = next(t for t in tables if "before" in getattr(t, "columns", []))
    row = comparison[(comparison["grouping"] == "sex") & (comparison["metric"] == "demographic_parity_difference")]
    assert float(row["after"].iloc[0]) < float(row["before"].iloc[0])
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["Mitigated predictions (CSV)", "Mitigated predictions (XLSX)"]


def test_multiclass_page_shows_the_macro_view_and_one_class(tmp_path):
    rng = np.random.default_rng(3)
    n = 1200
    frame = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "y": rng.choice(["a", "b", "c"], n)})
    frame["p"] = np.where(rng.random(n) < 0.6, frame["y"], rng.choice(["a", "b", "c"], n))
    spec = AuditSpec(target="y", sensitive=("sex",), prediction_column="p", positive_label="a")
    ctx = AuditContext(spec, frame, "c" * 64, frame["y"].to_numpy(str), frame["p"].to_numpy(str), None,
                       ("a", "b", "c"), Settings(home=tmp_path))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["audit_context"] = ctx
    at.run()
    assert not at.exception
    macro = at.dataframe[0].value
    section = build_section(ctx)["sex"]
    assert macro.loc["sex", "Demographic parity difference"] == pytest.approx(section["demographic_parity_difference"])
    at.selectbox(key="ovr_class").set_value("c").run()
    assert not at.exception
    one = section["one_vs_rest"]["c"]["demographic_parity_difference"]
    assert {m.label: m.value for m in at.metric}["Demographic parity difference"] == f"{one:.3f}"


def test_text_model_counterfactual_tab(tmp_path):
    from auditkit.checkpoints.loader import load_model
    from tests.builders import tiny_bert

    model = load_model(tiny_bert(tmp_path / "bert"))
    texts = ["she was very good", "he was not good", "the film was bad", "he was great", "she was awful"] * 8
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"text": texts, "sex": ["f", "m", "x", "m", "f"] * 8,
                          "y": rng.choice(["0", "1"], len(texts)), "p": rng.choice(["0", "1"], len(texts))})
    spec = AuditSpec(target="y", sensitive=("sex",), text_column="text", prediction_column="p")
    ctx = AuditContext(spec, frame, "d" * 64, frame["y"].to_numpy(str), frame["p"].to_numpy(str), None, ("0", "1"),
                       Settings(home=tmp_path), model=model)
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["audit_context"] = ctx
    at.session_state["fairness_tab"] = "Counterfactual text test"
    at.session_state["counterfactual_data"] = True
    at.run()
    at.button(key="cf_run").click().run()
    assert not at.exception
    pairs = next(d.value for d in at.dataframe if "flip_rate" in getattr(d.value, "columns", []))
    he_she = pairs[(pairs["term_a"] == "he") & (pairs["term_b"] == "she")].iloc[0]
    assert he_she["texts"] == 32  # 16 texts with "he" and 16 with "she", each swapped
    assert 0.0 <= he_she["flip_rate"] <= 1.0


def test_a_cohort_filters_every_panel_until_cleared(tmp_path):
    ctx = _context(tmp_path)
    at = _app(ctx, "Error analysis")
    worst = error_cohorts(ctx.frame[["sex", "band"]], ctx.y_true, ctx.y_pred, min_cohort_size=ctx.settings.min_group_size).cohorts[0]
    at.button(key="cohort_apply").click().run()
    assert not at.exception
    assert any(worst.description in i.value.replace("\\", "") and f"{worst.size:,} of 3,000 rows" in i.value
               for i in at.info)
    _, rows, sub = at.session_state["cohort_context"]
    assert len(sub.frame) == worst.size == rows.sum() and sub.cohort == worst.description
    inner = error_cohorts(sub.frame[["sex", "band"]], sub.y_true, sub.y_pred,
                          min_cohort_size=ctx.settings.min_group_size).cohorts[0]
    at.button(key="cohort_apply").click().run()  # a cohort picked inside the cohort narrows it
    _, narrowed, sub = at.session_state["cohort_context"]
    assert narrowed.sum() == inner.size and not (narrowed & ~rows).any()
    assert sub.cohort == f"{worst.description} and {inner.description}"
    at.button(key="cohort_clear").click().run()
    at.button(key="cohort_apply").click().run()
    at.session_state["fairness_tab"] = "Group metrics"
    at.session_state["bars_data"] = True
    at.run()
    by_group = next(d.value for d in at.dataframe if "count" in getattr(d.value, "columns", []))
    assert by_group["count"].sum() == worst.size  # the fairness numbers are the cohort's
    at.button(key="cohort_clear").click().run()
    assert not at.exception
    by_group = next(d.value for d in at.dataframe if "count" in getattr(d.value, "columns", []))
    assert by_group["count"].sum() == 3000
    assert not any("Filtered to the cohort" in i.value for i in at.info)
