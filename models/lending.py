"""Synthetic lending demo: applicants, a historically biased approval label, and an MLP trained on it.

Creditworthiness features (income, debt ratio, credit history, ...) are drawn independently of sex and race,
and the unbiased decision depends only on them. The historical label `approved` is then biased on purpose:
the approval log-odds are lowered by `LOGIT_SHIFT` for women and for Black applicants. The model never sees
sex or race, but two proxy features carry them: `zip_risk` (a neighbourhood score, higher for Black applicants)
and `career_break_years` (longer for women). Neither proxy affects the unbiased decision, so any weight the
model puts on them is learned bias.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn

from auditkit.tabular import TabularMLP

FEATURES: tuple[str, ...] = (
    "income",
    "debt_ratio",
    "credit_history_years",
    "loan_amount",
    "existing_loans",
    "age",
    "employment_years",
    "savings",
    "zip_risk",
    "career_break_years",
)
SENSITIVE: tuple[str, ...] = ("sex", "race", "age_group")
TARGET = "approved"
SPLIT = "split"
POSITIVE_LABEL = "1"
TEST_FRACTION = 0.2

RACES: tuple[str, ...] = ("white", "black", "hispanic", "asian")
RACE_SHARES: tuple[float, ...] = (0.55, 0.20, 0.15, 0.10)
AGE_BINS: tuple[int, ...] = (18, 30, 45, 60, 100)
AGE_GROUPS: tuple[str, ...] = ("18-29", "30-44", "45-59", "60+")

# The injected effects, in log-odds of approval, added on top of the creditworthiness score.
LOGIT_SHIFT: dict[str, float] = {"sex=female": -1.2, "race=black": -1.5}

GROUND_TRUTH: dict = {
    "description": (
        "Historical approvals were biased: the approval log-odds were lowered by 1.2 for women and by 1.5 for "
        "Black applicants beyond what creditworthiness explains. Creditworthiness features are independent of "
        "sex and race. Proxies: zip_risk (correlated with race=black) and career_break_years (correlated with "
        "sex=female) have no effect on the unbiased decision. age_group has no injected effect."
    ),
    "injected_logit_shift": dict(LOGIT_SHIFT),
    # Label `approved` over all rows of generate(20000, seed=0); other seeds agree within `tolerance`.
    "labels": {
        "sex": {"unprivileged": "female", "privileged": "male",
                "selection_rate": {"female": 0.328, "male": 0.513},
                "demographic_parity_difference": 0.185, "demographic_parity_ratio": 0.639},
        "race": {"unprivileged": "black",
                 "selection_rate": {"white": 0.461, "black": 0.255, "hispanic": 0.471, "asian": 0.457},
                 "demographic_parity_difference": 0.216, "demographic_parity_ratio": 0.541},
        "age_group": {"demographic_parity_difference": 0.039, "demographic_parity_ratio": 0.910},
        "tolerance": 0.03,
    },
    # The same applicants decided on creditworthiness alone (generate(..., unbiased=True)).
    "unbiased_labels": {"demographic_parity_difference_max": {"sex": 0.03, "race": 0.04}},
    "proxies": {
        "zip_risk": {"group": "race=black", "point_biserial_correlation": 0.845},
        "career_break_years": {"group": "sex=female", "point_biserial_correlation": 0.534},
        "tolerance": 0.03,
    },
    # The demo model (train(), threshold 0.5) on all rows: sex DPD 0.121, race DPD 0.229, age_group DPD 0.025;
    # test-split accuracy 0.763 against a majority baseline of 0.571. The bounds hold across seeds and for models
    # trained on as few as 8000 rows; thresholding can widen the small age gradient of the labels (not injected).
    "model": {
        "sex": {"least_favoured": "female", "demographic_parity_difference": 0.121,
                "demographic_parity_difference_min": 0.08},
        "race": {"least_favoured": "black", "demographic_parity_difference": 0.229,
                 "demographic_parity_difference_min": 0.15},
        "age_group": {"demographic_parity_difference": 0.025, "demographic_parity_difference_max": 0.12},
        "accuracy": 0.763,
        "accuracy_min": 0.72,
    },
}


def _age_group(age: np.ndarray) -> np.ndarray:
    idx = np.digitize(age, AGE_BINS[1:-1])
    return np.asarray(AGE_GROUPS, dtype=object)[idx]


def generate(n: int = 20000, seed: int = 0, *, unbiased: bool = False) -> pd.DataFrame:
    """The lending data set: `FEATURES`, `SENSITIVE`, `split` ("train"/"test") and the label `approved` (1/0).

    `unbiased=True` returns the same applicants decided on creditworthiness alone (for checking the ground truth).
    """
    rng = np.random.default_rng(seed)
    female = rng.random(n) < 0.5
    race = rng.choice(np.asarray(RACES, dtype=object), size=n, p=RACE_SHARES)
    black = race == "black"

    age = np.clip(rng.normal(42, 12, n), 18, 80).round()
    income = np.round(np.exp(rng.normal(10.9, 0.45, n)), -2)
    debt_ratio = np.clip(rng.beta(2.2, 5.0, n), 0.0, 0.95).round(3)
    credit_history_years = np.clip((age - 18) * rng.uniform(0.3, 1.0, n), 0, None).round(1)
    employment_years = np.clip((age - 18) * rng.uniform(0.1, 0.9, n), 0, None).round(1)
    loan_amount = np.round(income * rng.uniform(0.1, 0.8, n), -2)
    existing_loans = rng.poisson(1.2, n).astype(float)
    savings = np.round(np.exp(rng.normal(8.5, 1.2, n)), -1)
    zip_risk = np.clip(0.30 + 0.40 * black + rng.normal(0, 0.10, n), 0, 1).round(3)
    career_break_years = np.round(rng.exponential(np.where(female, 3.0, 0.3)), 1)

    score = (
        1.6 * (np.log(income) - 10.9) / 0.45
        - 4.0 * (debt_ratio - 0.3)
        + 0.01 * (credit_history_years - 12)
        - 2.0 * (loan_amount / income - 0.45)
        - 0.35 * (existing_loans - 1.2)
        + 0.005 * (employment_years - 12)
        + 0.35 * (np.log(savings) - 8.5)
        + 0.3
    )
    noise = rng.logistic(0, 1, n)
    split = np.where(rng.random(n) < TEST_FRACTION, "test", "train")
    if not unbiased:
        score = score + LOGIT_SHIFT["sex=female"] * female + LOGIT_SHIFT["race=black"] * black
    approved = (score + noise > 0).astype(int)

    frame = pd.DataFrame({
        "income": income,
        "debt_ratio": debt_ratio,
        "credit_history_years": credit_history_years,
        "loan_amount": loan_amount,
        "existing_loans": existing_loans,
        "age": age,
        "employment_years": employment_years,
        "savings": savings,
        "zip_risk": zip_risk,
        "career_break_years": career_break_years,
        "sex": np.where(female, "female", "male"),
        "race": race.astype(str),
        "age_group": _age_group(age).astype(str),
        SPLIT: split,
        TARGET: approved,
    })
    return frame


def train(df: pd.DataFrame, *, seed: int = 0, epochs: int = 30, hidden: tuple[int, ...] = (64, 64),
          batch_size: int = 256, lr: float = 3e-3, threads: int = 1) -> TabularMLP:
    """Train the demo MLP on the `split == "train"` rows; the model takes raw feature values.

    A network this small trains fastest on one thread (and deterministically); `threads` is restored afterwards.
    """
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return _fit(df, seed=seed, epochs=epochs, hidden=hidden, batch_size=batch_size, lr=lr)
    finally:
        torch.set_num_threads(previous_threads)


def _fit(df: pd.DataFrame, *, seed: int, epochs: int, hidden: tuple[int, ...], batch_size: int,
         lr: float) -> TabularMLP:
    torch.manual_seed(seed)
    rows = df[df[SPLIT] == "train"]
    x = torch.from_numpy(rows[list(FEATURES)].to_numpy(np.float32, copy=True))
    y = torch.from_numpy(rows[TARGET].to_numpy(np.float32, copy=True))
    mean = x.mean(0).numpy()
    std = x.std(0).clamp_min(1e-6).numpy()
    model = TabularMLP(len(FEATURES), hidden=hidden, mean=mean, std=std)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-5)
    loss_fn = nn.BCEWithLogitsLoss()
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def predict(model: nn.Module, df: pd.DataFrame) -> np.ndarray:
    """Predicted labels (1/0, threshold 0.5 on the probability) for every row of `df`."""
    with torch.no_grad():
        logits = model(torch.from_numpy(df[list(FEATURES)].to_numpy(np.float32, copy=True)))
    return (logits > 0).numpy().astype(int)


def evaluate(model: nn.Module, df: pd.DataFrame) -> dict:
    """Test-split accuracy, and predicted approval rates and their largest gap per sensitive column (all rows)."""
    pred = predict(model, df)
    test = (df[SPLIT] == "test").to_numpy()
    y = df[TARGET].to_numpy()
    out: dict = {"n_test": int(test.sum()), "accuracy": float((pred[test] == y[test]).mean()),
                 "majority_baseline_accuracy": float(max(y[test].mean(), 1 - y[test].mean())), "groups": {}}
    for col in SENSITIVE:
        rates = pd.Series(pred).groupby(df[col].to_numpy()).mean()
        out["groups"][col] = {"selection_rate": {str(k): float(v) for k, v in rates.items()},
                              "demographic_parity_difference": float(rates.max() - rates.min())}
    return out
