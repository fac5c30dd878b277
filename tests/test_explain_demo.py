"""On the lending demo the injected bias shows up in the attributions: the proxies lead the group gaps."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.explain.tabular import explain_tabular_audit
from auditkit.tabular import export_tabular
from models import lending


@pytest.mark.integration
def test_lending_proxies_drive_the_group_gaps(tmp_path):
    df = lending.generate(6000, seed=3)
    model = lending.train(df, seed=3, epochs=15)
    path = export_tabular(model, len(lending.FEATURES), tmp_path / "lending.pt2")
    module = torch.export.load(str(path)).module()
    x = df[list(lending.FEATURES)].to_numpy(np.float32)
    with torch.inference_mode():
        logit = module(torch.tensor(x)).numpy()
    y_pred = np.where(logit > 0, "1", "0")
    spec = AuditSpec(target=lending.TARGET, sensitive=("sex", "race"), features=lending.FEATURES)
    settings = Settings(home=tmp_path / "home")
    ctx = AuditContext(spec, df, "d" * 64, df[lending.TARGET].astype(str).to_numpy(), y_pred,
                       1 / (1 + np.exp(-logit)), ("0", "1"), settings, model=load_model(path, settings=settings))
    exp = explain_tabular_audit(ctx, cross_checks=False)
    assert exp.attribution.additivity_error < 1e-5
    assert "career_break_years" in list(exp.group_difference["sex"])[:2]
    assert "zip_risk" in list(exp.group_difference["race"])[:2]
    # the proxies push the disadvantaged groups' predictions down
    assert exp.by_group["sex"]["female"]["career_break_years"] < exp.by_group["sex"]["male"]["career_break_years"]
    assert exp.by_group["race"]["black"]["zip_risk"] < exp.by_group["race"]["white"]["zip_risk"]
