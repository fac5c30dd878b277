"""`sweep`: privacy-utility sweep of the tabular MLP (accuracy at several epsilon targets and without DP)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from auditkit.cli import split_columns
from auditkit.cli.train_dp import add_recipe_arguments, label_indices, progress_printer, training_table
from auditkit.errors import SettingsError
from auditkit.hashing import sha256_file
from auditkit.privacy.artifacts import write_json
from auditkit.privacy.splits import TrainingData, train_eval_split
from auditkit.privacy.sweep import DEFAULT_TARGETS, SweepBaseline, SweepPoint, SweepResult, privacy_utility_sweep
from auditkit.scale.cluster import ENGINES, check_engine


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help="privacy-utility sweep: train the tabular MLP at several epsilon targets",
                       description="Train the tabular MLP with DP-SGD once per target epsilon and once without "
                                   "privacy (same recipe and seed), and write OUT/sweep.json: accuracy against "
                                   "epsilon, each point with its own privacy record. With --engine ray every "
                                   "training is a parallel Ray task; the numbers are the same as --engine local. "
                                   "Rows with split=test (when a split column exists) are held out for accuracy; "
                                   "otherwise 20% are held out at random.")
    p.add_argument("--data", required=True, help="dataset: .csv, .parquet or .jsonl")
    p.add_argument("--target", required=True, help="label column")
    p.add_argument("--features", help="feature columns, comma-separated (default: every numeric column)")
    p.add_argument("--positive-label", default="1", help="positive label value for binary labels (default: 1)")
    p.add_argument("--epsilons", default=",".join(f"{t:g}" for t in DEFAULT_TARGETS),
                   help="target epsilons, comma-separated (default 0.5,1,2,4,8)")
    p.add_argument("--delta", type=float, required=True, help="target delta (well below 1 / training rows)")
    p.add_argument("--epochs", type=int, required=True, help="training epochs per run")
    p.add_argument("--out", required=True, help="output folder")
    add_recipe_arguments(p)
    p.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: one training after another here; ray: parallel Ray tasks (default local)")
    p.add_argument("--ray-address", help="Ray cluster to join with --engine ray (default: $RAY_ADDRESS, else a "
                                         "local cluster sized to this machine)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run, text_column=None)


def _targets(value: str) -> tuple[float, ...]:
    try:
        targets = tuple(float(t) for t in split_columns(value))
    except ValueError:
        raise SettingsError(f"--epsilons must be numbers separated by commas, e.g. 0.5,1,2,4,8; "
                            f"got '{value}'.") from None
    if not targets:
        raise SettingsError("--epsilons needs at least one target epsilon, e.g. 0.5,1,2,4,8.")
    return targets


def _report_run(run: SweepPoint | SweepBaseline) -> None:
    if isinstance(run, SweepPoint):
        print(f"trained epsilon {run.target_epsilon:g}: epsilon {run.epsilon:.4f}, accuracy {run.accuracy:.4f}",
              file=sys.stderr)
    else:
        print(f"trained without privacy: accuracy {run.accuracy:.4f}", file=sys.stderr)


def _print(result: SweepResult) -> None:
    print(f"{'target':>8} {'epsilon':>9} {'noise':>8} {'accuracy':>9}")
    for p in result.points:
        print(f"{p.target_epsilon:>8g} {p.epsilon:>9.4f} {p.noise_multiplier:>8.4f} {p.accuracy:>9.4f}")
    print(f"non-private accuracy {result.baseline_accuracy:.4f}, majority class {result.majority_accuracy:.4f} "
          f"({result.evaluated_on} rows, delta {result.delta:g}, {result.accountant})")
    print("; ".join(f"epsilon {p.target_epsilon:g}: accuracy {p.accuracy:.3f}" for p in result.points))


def run(args: argparse.Namespace) -> int:
    engine = check_engine(args.engine)
    targets = _targets(args.epsilons)
    frame, features, classes = training_table(args)
    y, class_names = label_indices(frame, classes, args)
    X = frame[list(features)].apply(pd.to_numeric).to_numpy(dtype=np.float32)
    train, test, split_rule = train_eval_split(frame, seed=args.seed)
    data = TrainingData(X[train], y[train], X[test], y[test], split_rule, len(classes))
    model = data.template(hidden=tuple(int(h) for h in split_columns(args.hidden)), seed=args.seed)
    options = dict(targets=targets, target_delta=args.delta, epochs=args.epochs, max_grad_norm=args.max_grad_norm,
                   batch_size=args.batch_size, accountant=args.accountant, lr=args.lr, seed=args.seed,
                   X_eval=data.X_eval, y_eval=data.y_eval)
    if engine == "ray":
        from auditkit.scale.sweep import privacy_utility_sweep_ray

        result = privacy_utility_sweep_ray(model, data.X_train, data.y_train, address=args.ray_address,
                                           on_run=None if args.quiet else _report_run, **options)
    else:
        result = privacy_utility_sweep(model, data.X_train, data.y_train, progress=progress_printer(args), **options)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "sweep.json", {
        "sweep": result.to_dict(), "engine": engine,
        "recipe": {"model": "TabularMLP", "hidden": args.hidden, "batch_size": args.batch_size, "lr": args.lr,
                   "seed": args.seed, "max_grad_norm": args.max_grad_norm},
        "data": {"file": Path(args.data).name, "sha256": sha256_file(args.data), "target": args.target,
                 "features": list(features), "class_names": class_names, "positive_label": args.positive_label,
                 "train_rows": int(train.sum()), "eval_rows": int(test.sum()), "split": split_rule}})
    _print(result)
    print(f"wrote {out / 'sweep.json'}")
    return 0
