"""build_section on audit contexts: binary (equal to assess), multiclass one-vs-rest with the macro view."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.fairness import assess, assess_multiclass
from auditkit.fairness.section import build_section


def _ctx(tmp_path, labels, *, n=900, seed=0, score=True, positive="1") -> AuditContext:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"sex": rng.choice(["F", "M"], n), "age": rng.choice(["young", "old", "NA"], n),
                          "y": rng.choice(labels, n), "p": rng.choice(labels, n)})
    spec = AuditSpec(target="y", sensitive=("sex", "age"), prediction_column="p", positive_label=positive)
    return AuditContext(spec, frame, "0" * 64, frame["y"].to_numpy(str), frame["p"].to_numpy(str),
                        rng.random(n) if score else None, tuple(sorted(labels)),
                        Settings(home=tmp_path, min_group_size=250))


def test_binary_section_is_the_report_dict_and_json_ready(tmp_path):
    ctx = _ctx(tmp_path, ["0", "1"])
    section = build_section(ctx)
    expected = assess(ctx.y_true, ctx.y_pred, ctx.sensitive_features, ctx.y_score, min_group_size=250).to_dict()
    assert section == expected
    assert list(section) == ["sex", "age", "sex&age"]
    assert "NA" in section["age"]["by_group"]  # a group literally called NA stays a group
    assert section["sex&age"]["small_groups"]  # min_group_size comes from the settings
    json.dumps(section, allow_nan=False)


def test_multiclass_section_is_one_vs_rest_with_macro(tmp_path):
    ctx = _ctx(tmp_path, ["cat", "dog", "eel"], score=False, positive="cat")
    section = build_section(ctx)
    json.dumps(section, allow_nan=False)
    sex = section["sex"]
    assert set(sex["one_vs_rest"]) == {"cat", "dog", "eel"}
    for c in ("cat", "dog", "eel"):
        binary = assess(np.where(ctx.y_true == c, c, f"not {c}"), np.where(ctx.y_pred == c, c, f"not {c}"),
                        ctx.sensitive_features, pos_label=c, min_group_size=250).to_dict()["sex"]
        assert sex["one_vs_rest"][c] == binary
    mean_dpd = np.mean([sex["one_vs_rest"][c]["demographic_parity_difference"] for c in ("cat", "dog", "eel")])
    assert sex["demographic_parity_difference"] == pytest.approx(mean_dpd, abs=1e-12)
    f = (ctx.frame["sex"] == "F").to_numpy()
    assert sex["by_group"]["F"]["accuracy"] == pytest.approx(np.mean(ctx.y_true[f] == ctx.y_pred[f]), abs=1e-12)
    recall_f = np.mean([sex["one_vs_rest"][c]["by_group"]["F"]["recall"] for c in ("cat", "dog", "eel")])
    assert sex["by_group"]["F"]["recall"] == pytest.approx(recall_f, abs=1e-12)
    assert "demographic_parity_ratio" in sex["checks"]


def test_multiclass_needs_three_classes():
    from auditkit.errors import DataValidationError

    with pytest.raises(DataValidationError, match="at least three classes"):
        assess_multiclass(["a", "b"], ["a", "b"], pd.Series(["x", "y"]))


def test_the_report_is_computed_once_per_context_and_not_shared_with_a_cohort(tmp_path, monkeypatch):
    import auditkit.fairness.section as section

    calls = []
    monkeypatch.setattr(section, "assess", lambda *a, **k: calls.append(1) or assess(*a, **k))
    ctx = _ctx(tmp_path, ["0", "1"])
    first = section.fairness_report(ctx)
    assert build_section(ctx) == first.to_dict() and section.fairness_report(ctx) is first
    assert len(calls) == 1  # the audit's section and every panel read the same report
    cohort = ctx.subset(ctx.frame["sex"].to_numpy() == "F", "sex = F")
    assert section.fairness_report(cohort, cohort.sensitive_features[["age"]]).groupings[0].groups == ("NA", "old", "young")
    assert len(calls) == 2
