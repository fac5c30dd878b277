"""Which rows train and which rows evaluate: the `split` column when present, else a seeded random hold-out."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from auditkit.context import AuditContext
from auditkit.errors import DataValidationError
from auditkit.tabular import TabularMLP

SPLIT = "split"
HOLDOUT = 0.2


def train_eval_split(frame: pd.DataFrame, *, seed: int = 0, holdout: float = HOLDOUT) -> tuple[np.ndarray, np.ndarray, str]:
    """(train mask, evaluation mask, rule in words). Uses split=train / split=test when both values occur."""
    if SPLIT in frame.columns:
        split = frame[SPLIT].astype(str).to_numpy()
        if {"train", "test"} <= set(split):
            return split == "train", split == "test", "split column (train rows train, test rows evaluate)"
    test = np.random.default_rng(seed).random(len(frame)) < holdout
    return ~test, test, f"random {holdout:.0%} hold-out (seed {seed})"


@dataclass(frozen=True)
class TrainingData:
    """Arrays for training the tabular MLP on an audit's data, and a fresh model of that architecture."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_eval: np.ndarray
    y_eval: np.ndarray
    rule: str
    n_classes: int

    def template(self, *, hidden: tuple[int, ...] = (64, 64), seed: int = 0) -> TabularMLP:
        """A freshly initialised TabularMLP standardising with the training rows' statistics."""
        torch.manual_seed(seed)
        return TabularMLP(self.X_train.shape[1], hidden=hidden, n_classes=self.n_classes,
                          mean=self.X_train.mean(0), std=np.maximum(self.X_train.std(0), 1e-6))


def label_indices(ctx: AuditContext) -> np.ndarray | None:
    """The true labels as the loaded model's class indices (binary single-logit: 1 = the positive label); None when
    the model's class order is unknown."""
    model = ctx.model
    if model is None:
        return None
    if model.n_outputs == 1:
        return (ctx.y_true == ctx.positive_label).astype(int)
    names = list(model.class_names or ())
    if names and set(ctx.y_true) <= set(names):
        return np.array([names.index(v) for v in ctx.y_true])
    if set(ctx.y_true) <= {str(i) for i in range(model.n_outputs)}:
        return ctx.y_true.astype(int)
    return None


@dataclass(frozen=True)
class TextTrainingData:
    """Texts and the loaded text model's class indices, split for DP fine-tuning."""

    texts_train: list[str]
    y_train: np.ndarray
    texts_eval: list[str]
    y_eval: np.ndarray
    rule: str


def text_training_data(ctx: AuditContext, *, seed: int = 0) -> TextTrainingData:
    """The audit's texts and labels split for fine-tuning its text model."""
    if ctx.model is None or ctx.model.family.input_role != "text" or not ctx.spec.text_column:
        raise DataValidationError("text fine-tuning needs a text model and a text column. Fix: choose them on the "
                                  "Setup page.")
    y = label_indices(ctx)
    if y is None:
        raise DataValidationError("the labels do not match the model's classes "
                                  f"({', '.join(ctx.model.class_names or ())}). Fix: choose the label column whose "
                                  "values are the model's class names.")
    texts = np.asarray(ctx.texts(), dtype=object)
    train, test, rule = train_eval_split(ctx.frame, seed=seed)
    return TextTrainingData(list(texts[train]), y[train], list(texts[test]), y[test], rule)


def training_data(ctx: AuditContext, *, seed: int = 0) -> TrainingData:
    """The audit's feature matrix and labels split for training (binary: 1 = the positive label)."""
    if not ctx.feature_names:
        raise DataValidationError("training needs numeric feature columns. Fix: choose the features on the Setup page.")
    X = ctx.features()
    classes = list(ctx.classes)
    y = ((ctx.y_true == ctx.positive_label).astype(int) if len(classes) == 2
         else np.searchsorted(np.asarray(classes), ctx.y_true))
    train, test, rule = train_eval_split(ctx.frame, seed=seed)
    return TrainingData(X[train], y[train], X[test], y[test], rule, len(classes))
