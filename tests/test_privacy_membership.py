"""Membership inference: exact bounds on constructed counts, per-example losses, and the demo leakage contrast."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import beta
from torch import nn

from auditkit.errors import SettingsError
from auditkit.privacy.membership import clopper_pearson, epsilon_lower_bound, loss_and_confidence, membership_audit
from auditkit.privacy.training import dp_train
from auditkit.tabular import TabularMLP
from models.lending import FEATURES, TARGET, generate


def test_clopper_pearson_closed_form_at_the_edges():
    # k = n: lower bound (a/2)^(1/n); k = 0: upper bound 1 - (a/2)^(1/n).
    lo, hi = clopper_pearson(50, 50, 0.95)
    assert lo == pytest.approx(0.025 ** (1 / 50)) and hi == 1.0
    lo, hi = clopper_pearson(0, 50, 0.95)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 50))


def test_epsilon_lower_bound_constructed_counts():
    # A perfect attack on 100 members and 100 non-members: TPR_lo = 0.025^(1/100), FPR_hi = 1 - 0.025^(1/100).
    t = 0.025 ** (1 / 100)
    assert epsilon_lower_bound(100, 100, 0, 100) == pytest.approx(np.log(t / (1 - t)), rel=1e-9)
    # 90/100 flagged members, 10/100 flagged non-members.
    tpr_lo = beta.ppf(0.025, 90, 11)
    fpr_hi = beta.ppf(0.975, 11, 90)
    want = max(np.log(tpr_lo / fpr_hi), np.log((1 - fpr_hi) / (1 - tpr_lo)))
    assert epsilon_lower_bound(90, 100, 10, 100) == pytest.approx(want, rel=1e-9)
    assert 1.5 < want < np.log(0.9 / 0.1)  # below the point estimate log(TPR / FPR) = 2.197
    # delta shrinks it; a chance-level attack proves nothing.
    assert epsilon_lower_bound(90, 100, 10, 100, delta=0.05) < want
    assert epsilon_lower_bound(50, 100, 50, 100) == 0.0
    # Vectorised over thresholds.
    np.testing.assert_allclose(epsilon_lower_bound(np.array([90, 50]), 100, np.array([10, 50]), 100), [want, 0.0])


def test_per_example_loss_and_confidence():
    torch.manual_seed(0)
    x = torch.randn(20, 3)
    binary, multi = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0)), nn.Linear(3, 4)
    y2, y4 = (torch.rand(20) > 0.5).long(), torch.randint(0, 4, (20,))
    loss, phi = loss_and_confidence(binary, x.numpy(), y2.numpy())
    with torch.no_grad():
        z = binary(x).double()
        np.testing.assert_allclose(loss, nn.functional.binary_cross_entropy_with_logits(
            z, y2.double(), reduction="none").numpy(), rtol=1e-10)
        p = torch.sigmoid(z)
        p_y = torch.where(y2 == 1, p, 1 - p)
        np.testing.assert_allclose(phi, torch.log(p_y / (1 - p_y)).numpy(), rtol=1e-8, atol=1e-10)
        loss, phi = loss_and_confidence(multi, x.numpy(), y4.numpy())
        z = multi(x).double()
        np.testing.assert_allclose(loss, nn.functional.cross_entropy(z, y4, reduction="none").numpy(), rtol=1e-10)
        p_y = torch.softmax(z, 1).gather(1, y4[:, None]).squeeze(1)
        np.testing.assert_allclose(phi, torch.log(p_y / (1 - p_y)).numpy(), rtol=1e-8)


def test_perfectly_leaking_model():
    # Column 0 marks membership; the "model" is confidently right on members and unsure on non-members.
    rng = np.random.default_rng(0)
    X_m = np.c_[np.ones(200), rng.normal(size=(200, 2))].astype(np.float32)
    X_n = np.c_[np.zeros(200), rng.normal(size=(200, 2))].astype(np.float32)
    y_m, y_n = np.ones(200, int), rng.integers(0, 2, 200)
    model = nn.Sequential(nn.Linear(3, 1), nn.Flatten(0))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[8.0, 0.0, 0.0]]))
        model[0].bias.zero_()
    sensitive = pd.DataFrame({"g": ["a", "b"] * 200, "tiny": ["x"] * 5 + ["y"] * 395})
    r = membership_audit(model, X_m, y_m, X_n, y_n, sensitive=sensitive)
    loss = next(a for a in r.attacks if a.attack == "loss")
    assert loss.auc == 1.0 and loss.advantage == 1.0 and loss.tpr_at_1pct_fpr == 1.0
    assert loss.epsilon_lower_bound > 2.5  # perfect separation on 100 + 100 evaluation rows
    assert loss.roc_fpr[0] == 0.0 and loss.roc_tpr[-1] == 1.0 and len(loss.roc_fpr) == 101
    assert {(g.column, g.group) for g in r.groups if g.attack == "loss"} == {("g", "a"), ("g", "b"), ("tiny", "y")}
    assert all(g.auc == 1.0 for g in r.groups if g.attack == "loss")
    d = r.to_dict()
    assert d["auc"] == 1.0 and d["n_members"] == 200 and len(d["attacks"]) == 2


def test_rejects_too_few_rows():
    with pytest.raises(SettingsError, match="split=train"):
        membership_audit(nn.Linear(2, 2), np.zeros((1, 2)), [0], np.zeros((3, 2)), [0, 1, 0])


def test_overfit_model_leaks_more_than_dp_counterpart():
    df = generate(600, seed=3)
    tr, te = df[df["split"] == "train"], df[df["split"] == "test"]
    X_m, y_m = tr[list(FEATURES)].to_numpy(np.float32), tr[TARGET].to_numpy()
    X_n, y_n = te[list(FEATURES)].to_numpy(np.float32), te[TARGET].to_numpy()
    torch.manual_seed(0)
    arch = dict(hidden=(64, 64), mean=X_m.mean(0), std=X_m.std(0))
    overfit = TabularMLP(len(FEATURES), **arch)
    opt = torch.optim.Adam(overfit.parameters(), lr=1e-2)
    x, y = torch.from_numpy(X_m.copy()), torch.from_numpy(y_m.astype(np.float32))
    for _ in range(200):
        opt.zero_grad()
        nn.functional.binary_cross_entropy_with_logits(overfit(x), y).backward()
        opt.step()
    dp = dp_train(TabularMLP(len(FEATURES), **arch), X_m, y_m, target_epsilon=1.0, target_delta=1e-3, epochs=8,
                  batch_size=64, baseline=False, curve_points=1).model
    leak, private = membership_audit(overfit, X_m, y_m, X_n, y_n), membership_audit(dp, X_m, y_m, X_n, y_n)
    assert leak.auc > 0.65 and leak.advantage > 0.3
    assert private.auc < 0.58
    assert leak.auc - private.auc > 0.1
    assert private.epsilon_lower_bound <= 1.0  # never contradicts the DP guarantee


@pytest.mark.parametrize("k", [2, 3])
def test_reference_confidence_matches_predict_proba(k):
    from sklearn.linear_model import LogisticRegression

    from auditkit.privacy.membership import _phi

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (k == 3) * (X[:, 1] > 0.5).astype(int)
    ref = LogisticRegression(max_iter=500).fit(X, y)
    p = ref.predict_proba(X.astype(np.float64))[np.arange(300), y]
    np.testing.assert_allclose(_phi(ref, X, y), np.log(p) - np.log1p(-p), rtol=1e-6, atol=1e-6)


def test_multiclass_model_runs_both_attacks():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3)).astype(np.float32)
    y = np.argmax(X, axis=1)
    r = membership_audit(nn.Linear(3, 3), X[:100], y[:100], X[100:], y[100:])
    assert [a.attack for a in r.attacks] == ["loss", "calibrated"]
    assert all(0.3 < a.auc < 0.7 for a in r.attacks)  # an untrained model: nothing to find
