"""Membership-inference audit: can an attacker tell training rows (members) from held-out rows?

Two black-box attacks on a model's outputs:
- `loss`: the loss-threshold attack (Yeom et al. 2018): score = -loss(x, y); training rows tend to have lower loss.
- `calibrated`: the logit-scaled confidence phi(x, y) = log p_y - log(1 - p_y) (as in LiRA, Carlini et al. 2022)
  minus the same quantity under reference models that never saw x (difficulty calibration, Watson et al. 2022).
  The references are logistic regressions fitted on two halves of the held-out rows (on the features for tabular
  models, on TF-IDF word and bigram counts for text models); each held-out row is scored by the reference fitted
  on the other half, each member by the mean of both.

For each attack: ROC AUC, attacker advantage max(TPR - FPR), TPR at 1% and 0.1% FPR, ROC points, and an empirical
epsilon lower bound (see `epsilon_lower_bound`) with a threshold chosen on one random half of the rows and the
bound evaluated on the other half, so the stated confidence holds.
"""
from __future__ import annotations

from typing import Any, Callable, Literal, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.special import logsumexp
from scipy.stats import beta
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from auditkit.errors import SettingsError
from auditkit.inference.device import on_device, resolve_device
from auditkit.privacy.results import AttackResult, GroupAttackResult, MIAResult

AttackName = Literal["loss", "calibrated"]
ROC_POINTS = 101
MIN_GROUP_ROWS = 10
_BATCH = 8192
TEXT_BATCH = 32
# A class the reference never saw gets this (very low) logit-scaled confidence.
_MISSING_CLASS_LOGIT = 30.0


def clopper_pearson(k: np.ndarray | int, n: np.ndarray | int, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided Clopper-Pearson interval (exact binomial) for k successes in n trials at `confidence`."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    a = 1 - confidence
    with np.errstate(invalid="ignore"):
        lo = np.where(k > 0, beta.ppf(a / 2, k, n - k + 1), 0.0)
        hi = np.where(k < n, beta.ppf(1 - a / 2, k + 1, n - k), 1.0)
    return lo, hi


def epsilon_lower_bound(tp: np.ndarray | int, n_members: int, fp: np.ndarray | int, n_nonmembers: int, *,
                        confidence: float = 0.95, delta: float = 0.0) -> np.ndarray | float:
    """Empirical epsilon implied by an attack with `tp` of `n_members` and `fp` of `n_nonmembers` flagged.

    (epsilon, delta)-DP forces TPR <= e^eps FPR + delta and 1 - FPR <= e^eps (1 - TPR) + delta
    (Kairouz et al. 2015). With TPR_lo the lower and FPR_hi the upper end of two-sided Clopper-Pearson intervals
    at `confidence` (each one-sided bound fails with probability (1 - confidence) / 2, so both hold together
    with probability >= `confidence`):
        eps_lb = max(0, log((TPR_lo - delta) / FPR_hi), log((1 - FPR_hi - delta) / (1 - TPR_lo)))
    Any DP guarantee with epsilon below eps_lb (at this delta) is refuted at that confidence.
    """
    tpr_lo, _ = clopper_pearson(tp, n_members, confidence)
    _, fpr_hi = clopper_pearson(fp, n_nonmembers, confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(np.maximum(tpr_lo - delta, 0) / fpr_hi)
        b = np.log(np.maximum(1 - fpr_hi - delta, 0) / (1 - tpr_lo))
    out = np.nan_to_num(np.maximum(np.maximum(a, b), 0.0), nan=0.0, posinf=0.0, neginf=0.0)
    return float(out) if out.ndim == 0 else out


def _counts_at_thresholds(s_m: np.ndarray, s_n: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Members / non-members with score >= each threshold."""
    tp = len(s_m) - np.searchsorted(np.sort(s_m), thresholds, side="left")
    fp = len(s_n) - np.searchsorted(np.sort(s_n), thresholds, side="left")
    return tp, fp


def _split_epsilon_lb(s_m: np.ndarray, s_n: np.ndarray, confidence: float, delta: float,
                      rng: np.random.Generator) -> tuple[float, float | None]:
    """Choose the threshold on one half, bound epsilon on the other; returns (eps_lb, threshold)."""
    if len(s_m) < 4 or len(s_n) < 4:
        return 0.0, None
    pm, pn = rng.permutation(len(s_m)), rng.permutation(len(s_n))
    sel_m, ev_m = s_m[pm[: len(pm) // 2]], s_m[pm[len(pm) // 2:]]
    sel_n, ev_n = s_n[pn[: len(pn) // 2]], s_n[pn[len(pn) // 2:]]
    thresholds = np.unique(np.concatenate([sel_m, sel_n]))
    tp, fp = _counts_at_thresholds(sel_m, sel_n, thresholds)
    eps = epsilon_lower_bound(tp, len(sel_m), fp, len(sel_n), confidence=confidence, delta=delta)
    best = float(thresholds[int(np.argmax(eps))])
    tp, fp = _counts_at_thresholds(ev_m, ev_n, np.array([best]))
    return float(epsilon_lower_bound(int(tp[0]), len(ev_m), int(fp[0]), len(ev_n), confidence=confidence,
                                     delta=delta)), best


def _logits(model: nn.Module, X: np.ndarray) -> torch.Tensor:
    outs = []
    with torch.no_grad():
        for start in range(0, len(X), _BATCH):
            outs.append(model(torch.tensor(X[start:start + _BATCH], dtype=torch.float32)))
    return torch.cat(outs) if outs else torch.zeros(0)


def logit_loss_and_confidence(z: torch.Tensor, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-example loss and logit-scaled confidence log p_y - log(1 - p_y) from logits [n] (binary) or [n, k]."""
    z = z.detach().double().cpu()
    t = torch.as_tensor(np.asarray(y), dtype=torch.long)
    if z.dim() == 1:
        signed = torch.where(t == 1, z, -z)
        return torch.nn.functional.softplus(-signed).numpy(), signed.numpy()
    logp = torch.log_softmax(z, dim=1)
    lp_y = logp.gather(1, t[:, None]).squeeze(1)
    rest = logp.scatter(1, t[:, None], float("-inf")).logsumexp(1)
    return (-lp_y).numpy(), (lp_y - rest).numpy()


def probability_loss_and_confidence(probabilities: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per-example loss and logit-scaled confidence from class probabilities [n, k] (e.g. an audit's cached
    predictions). 1 - p_y is summed from the other classes' probabilities, so confident predictions keep the
    precision that p_y itself has lost."""
    p = np.asarray(probabilities, dtype=np.float64)
    t = np.asarray(y).astype(int)
    if p.ndim != 2 or len(p) != len(t) or (len(t) and (t.min() < 0 or t.max() >= p.shape[1])):
        raise SettingsError(f"Probabilities must be [rows, classes] with one row per label; got {p.shape} for "
                            f"{len(t)} labels.")
    tiny = np.finfo(np.float64).tiny
    p_y = np.maximum(p[np.arange(len(t)), t], tiny)
    rest = np.maximum(np.where(np.arange(p.shape[1]) == t[:, None], 0.0, p).sum(1), tiny)
    loss = np.where(rest < 0.5, -np.log1p(-np.minimum(rest, 0.5)), -np.log(p_y))
    return loss, np.log(p_y) - np.log(rest)


def loss_and_confidence(model: nn.Module, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-example loss and logit-scaled confidence of a tabular model (float32 [n, f] -> logits [n] or [n, k])."""
    return logit_loss_and_confidence(_logits(model, X), y)


def text_logits(module: nn.Module, tokenizer: Any, texts: Sequence[str], *, max_length: int | None = None,
                batch_size: int = TEXT_BATCH, device: str | None = None) -> torch.Tensor:
    """Float32 logits of a Hugging Face sequence classifier, in input order: texts are tokenised once, batched by
    length (dynamic padding) and run without gradients on `device` (None: CUDA when available, as inference does;
    the shared module is placed there as a cached copy, never moved)."""
    dev = resolve_device(device)
    module = on_device(module, dev)
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    order = np.argsort([-len(ids) for ids in encoded], kind="stable")
    out: list[torch.Tensor] = []
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = tokenizer.pad({"input_ids": [encoded[i] for i in order[start:start + batch_size]]},
                                  return_tensors="pt")
            out.append(module(**{k: v.to(dev) for k, v in batch.items()}).logits.float().cpu())
    if not out:
        return torch.zeros(0)
    logits = torch.empty_like(torch.cat(out))
    logits[torch.from_numpy(order)] = torch.cat(out)
    return logits.squeeze(-1) if logits.shape[-1] == 1 else logits


def _tabular_reference() -> Any:
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))


def _text_reference() -> Any:
    return make_pipeline(TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), LogisticRegression(max_iter=500))


def _reference_confidence(X_m: np.ndarray, y_m: np.ndarray, X_n: np.ndarray, y_n: np.ndarray, seed: int,
                          reference: Callable[[], Any] = _tabular_reference) -> tuple[np.ndarray, np.ndarray] | None:
    """Logit-scaled confidence of references that never saw the row (see module docstring); None if impossible."""
    halves = np.array_split(np.random.default_rng(seed).permutation(len(X_n)), 2)
    if any(len(np.unique(y_n[h])) < 2 for h in halves):
        return None
    ref_n = np.zeros(len(X_n))
    ref_m = np.zeros(len(X_m))
    for fit, score in (halves, halves[::-1]):
        ref = reference().fit(X_n[fit], y_n[fit])
        ref_n[score] = _phi(ref, X_n[score], y_n[score])
        ref_m += _phi(ref, X_m, y_m) / 2
    return ref_m, ref_n


def _phi(ref: Any, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log p_y - log(1 - p_y) of a fitted logistic regression, from its decision function (stable in float64)."""
    z = np.asarray(ref.decision_function(X), dtype=np.float64)
    classes = ref.classes_
    if z.ndim == 1:
        return np.where(y == classes[1], z, -z)
    col = np.clip(np.searchsorted(classes, y), 0, len(classes) - 1)
    known = classes[col] == y
    logp = z - logsumexp(z, axis=1, keepdims=True)
    lp_y = np.where(known, logp[np.arange(len(y)), col], -_MISSING_CLASS_LOGIT)
    rest = logsumexp(np.where(np.arange(len(classes)) == col[:, None], -np.inf, logp), axis=1)
    return np.where(known, lp_y - rest, -_MISSING_CLASS_LOGIT)


def _attack(name: str, s_m: np.ndarray, s_n: np.ndarray, confidence: float, delta: float,
            seed: int) -> AttackResult:
    labels = np.r_[np.ones(len(s_m)), np.zeros(len(s_n))]
    scores = np.r_[s_m, s_n]
    fpr, tpr, _ = roc_curve(labels, scores)
    grid = np.linspace(0, 1, ROC_POINTS)
    roc_tpr = np.interp(grid, fpr, tpr)
    eps, _ = _split_epsilon_lb(s_m, s_n, confidence, delta, np.random.default_rng(seed))
    return AttackResult(
        attack=name, auc=float(roc_auc_score(labels, scores)), advantage=float(np.max(tpr - fpr)),
        tpr_at_1pct_fpr=float(tpr[fpr <= 0.01].max()), tpr_at_01pct_fpr=float(tpr[fpr <= 0.001].max()),
        epsilon_lower_bound=eps, roc_fpr=tuple(grid.round(4).tolist()), roc_tpr=tuple(roc_tpr.round(4).tolist()),
    )


def _groups(name: str, s_m: np.ndarray, s_n: np.ndarray, sensitive: pd.DataFrame, confidence: float,
            delta: float, seed: int) -> list[GroupAttackResult]:
    out = []
    n_m = len(s_m)
    for col in sensitive.columns:
        values = sensitive[col].astype(str).to_numpy()
        for group in sorted(set(values)):
            gm, gn = s_m[values[:n_m] == group], s_n[values[n_m:] == group]
            if len(gm) < MIN_GROUP_ROWS or len(gn) < MIN_GROUP_ROWS:
                continue
            r = _attack(name, gm, gn, confidence, delta, seed)
            out.append(GroupAttackResult(str(col), group, name, len(gm), len(gn), r.auc, r.advantage,
                                         r.epsilon_lower_bound))
    return out


def _check_inputs(n_m: int, n_ym: int, n_n: int, n_yn: int, sensitive: pd.DataFrame | None,
                  confidence: float) -> None:
    if n_m < 2 or n_n < 2 or n_m != n_ym or n_n != n_yn:
        raise SettingsError("Membership inference needs at least 2 member and 2 non-member rows with labels. "
                            "Fix: mark training rows as split=train and held-out rows as split=test.")
    if not 0 < confidence < 1:
        raise SettingsError(f"Confidence must be in (0, 1), e.g. 0.95; got {confidence}.")
    if sensitive is not None and len(sensitive) != n_m + n_n:
        raise SettingsError("`sensitive` needs one row per member followed by one per non-member.")


def _audit(losses: tuple[np.ndarray, np.ndarray], phis: tuple[np.ndarray, np.ndarray],
           ref: tuple[np.ndarray, np.ndarray] | None, *, sensitive: pd.DataFrame | None, confidence: float,
           delta: float, seed: int, notes: list[str]) -> MIAResult:
    """Both attacks from per-example losses and confidences (members, non-members), overall and per group."""
    scores = {"loss": (-losses[0], -losses[1])}
    if ref is not None:
        scores["calibrated"] = (phis[0] - ref[0], phis[1] - ref[1])
    attacks = tuple(_attack(name, s_m, s_n, confidence, delta, seed) for name, (s_m, s_n) in scores.items())
    groups: list[GroupAttackResult] = []
    if sensitive is not None:
        for name, (s_m, s_n) in scores.items():
            groups += _groups(name, s_m, s_n, sensitive, confidence, delta, seed)
    return MIAResult(attacks, tuple(groups), len(losses[0]), len(losses[1]), confidence, float(delta), tuple(notes))


_NO_CALIBRATION = "calibrated attack skipped: each half of the held-out rows needs both classes."


def membership_audit(model: nn.Module, X_members: Any, y_members: Any, X_nonmembers: Any, y_nonmembers: Any, *,
                     sensitive: pd.DataFrame | None = None, confidence: float = 0.95, delta: float = 0.0,
                     seed: int = 0) -> MIAResult:
    """Run the loss-threshold and calibrated-score attacks on `model` (float32 [n, f] -> logits [n] or [n, k]).

    `y_*` are class indices (0/1 for binary). `sensitive` has one row per member then per non-member (in that
    order) and one column per sensitive attribute; groups with fewer than 10 members or non-members are skipped.
    `delta` enters the epsilon lower bound (use the model's DP delta when comparing with its epsilon).
    """
    X_m, X_n = np.asarray(X_members, dtype=np.float32), np.asarray(X_nonmembers, dtype=np.float32)
    y_m, y_n = np.asarray(y_members).astype(int), np.asarray(y_nonmembers).astype(int)
    _check_inputs(len(X_m), len(y_m), len(X_n), len(y_n), sensitive, confidence)
    loss_m, phi_m = loss_and_confidence(model, X_m, y_m)
    loss_n, phi_n = loss_and_confidence(model, X_n, y_n)
    ref = _reference_confidence(X_m, y_m, X_n, y_n, seed)
    notes = [] if ref is not None else [_NO_CALIBRATION]
    return _audit((loss_m, loss_n), (phi_m, phi_n), ref, sensitive=sensitive, confidence=confidence, delta=delta,
                  seed=seed, notes=notes)


def membership_audit_text(module: nn.Module, tokenizer: Any, texts_members: Sequence[str], y_members: Any,
                          texts_nonmembers: Sequence[str], y_nonmembers: Any, *, sensitive: pd.DataFrame | None = None,
                          confidence: float = 0.95, delta: float = 0.0, seed: int = 0, max_length: int | None = None,
                          batch_size: int = TEXT_BATCH, device: str | None = None,
                          probabilities: Any = None) -> MIAResult:
    """`membership_audit` for a Hugging Face sequence classifier (`module`, `tokenizer`) on texts.

    Per-example losses come from the model's float32 logits (`text_logits`: batched, no gradients, on `device`),
    or, when `probabilities` ([members + non-members, classes], members first) are given, from those outputs
    already computed (an audit's cached predictions) without running the model. The calibrated attack's references are TF-IDF logistic regressions fitted on halves of the held-out texts.
    """
    t_m = np.asarray([str(t) for t in texts_members], dtype=object)
    t_n = np.asarray([str(t) for t in texts_nonmembers], dtype=object)
    y_m, y_n = np.asarray(y_members).astype(int), np.asarray(y_nonmembers).astype(int)
    _check_inputs(len(t_m), len(y_m), len(t_n), len(y_n), sensitive, confidence)
    if probabilities is not None:
        loss, phi = probability_loss_and_confidence(probabilities, np.r_[y_m, y_n])
    else:
        if not (isinstance(batch_size, int) and batch_size >= 1):
            raise SettingsError(f"Batch size must be a whole number >= 1; got {batch_size}.")
        logits = text_logits(module, tokenizer, [*t_m, *t_n], max_length=max_length, batch_size=batch_size,
                             device=device)
        loss, phi = logit_loss_and_confidence(logits, np.r_[y_m, y_n])
    loss_m, loss_n, phi_m, phi_n = loss[:len(t_m)], loss[len(t_m):], phi[:len(t_m)], phi[len(t_m):]
    notes = []
    try:
        ref = _reference_confidence(t_m, y_m, t_n, y_n, seed, _text_reference)
    except ValueError:  # no word of two or more characters in one half of the held-out texts
        ref = None
        notes.append("calibrated attack skipped: the held-out texts have too few words for a reference model.")
    else:
        notes.append(_NO_CALIBRATION if ref is None else
                     "calibrated attack references: TF-IDF logistic regressions fitted on held-out texts.")
    return _audit((loss_m, loss_n), (phi_m, phi_n), ref, sensitive=sensitive, confidence=confidence, delta=delta,
                  seed=seed, notes=notes)
