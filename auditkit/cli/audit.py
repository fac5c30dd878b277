"""`audit`: audit a dataset and (optionally) a model; writes DIR/audit.json."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from typing import TYPE_CHECKING

from auditkit.cli import split_columns
from auditkit.data.spec import AuditSpec

if TYPE_CHECKING:
    from auditkit.engine_registry import EngineSetting


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="audit a dataset and a model, write audit.json",
                       description="Audit a dataset and a model (or the dataset's own prediction column); writes OUT/audit.json. "
                                   "Exit status: 0 when no policy rule fails, 1 when any fails (0 with --exit-zero), "
                                   "2 on bad input.")
    add_spec_arguments(p)
    p.add_argument("--model", help="a .pt2 (torch.export) file, or a Hugging Face model folder or .zip with safetensors weights")
    p.add_argument("--out", required=True, help="output folder for audit.json")
    p.add_argument("--policy", help="YAML policy to judge the audit by (default: the shipped policy); "
                                     "the exit status is 1 when any of its rules fails")
    p.add_argument("--exit-zero", action="store_true",
                   help="exit 0 even when a policy rule fails (the scorecard is still printed, stored and written "
                        "with --junit)")
    p.add_argument("--junit", help="also write the scorecard as JUnit XML to this file")
    p.add_argument("--name", default="", help="a name for this audit in the audit store")
    p.add_argument("--dp-record", help="privacy.json written by train-dp for this model: its epsilon is checked and reported")
    add_run_arguments(p)
    add_engine_arguments(p)
    p.set_defaults(func=run)


def add_engine_arguments(p: argparse.ArgumentParser) -> None:
    """Where the audit runs: the registered engines (docs/scale.md) and their options."""
    from auditkit.engines import registered

    engines = registered()
    p.add_argument("--engine", choices=list(engines), default="memory",
                   help="; ".join(f"{name}: {e.description}" for name, e in engines.items()) + " (default: memory)")
    p.add_argument("--chunk-rows", type=int, help="stream and ray engines: rows per chunk (default: 1,000,000)")
    p.add_argument("--workers", type=int, help="ray engine: model actors (default: one per GPU, else one per CPU)")
    p.add_argument("--ray-address", help="ray engine: the cluster to join (ray://host:10001 or host:6379; default: "
                                         "$RAY_ADDRESS, else start a local cluster sized to this machine)")


def engine_setting(args: argparse.Namespace) -> "EngineSetting":
    """The engine setting the engine options name."""
    from auditkit.engine_registry import EngineSetting

    return EngineSetting(args.engine, chunk_rows=args.chunk_rows, workers=args.workers, address=args.ray_address)


def add_spec_arguments(p: argparse.ArgumentParser) -> None:
    """Column-role options shared by every command that reads a dataset."""
    p.add_argument("--data", required=True, help="dataset: .csv, .parquet or .jsonl")
    p.add_argument("--target", required=True, help="label column")
    p.add_argument("--sensitive", required=True, help="sensitive attribute column(s), comma-separated")
    p.add_argument("--features", help="feature columns in the model's input order (default: every column without another role)")
    p.add_argument("--text-column", help="text column (text models)")
    p.add_argument("--prediction-column", help="column with existing predictions (audit without a model)")
    p.add_argument("--score-column", help="column with existing scores: probability of the positive label")
    p.add_argument("--positive-label", default="1", help="the favourable label value (default: 1)")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps")
    p.add_argument("--batch-size", type=int, help="inference batch size (default depends on model and device)")
    p.add_argument("--allow-pickle-weights", action="store_true",
                   help="UNSAFE OPT-IN: accept pytorch_model.bin/.pt state dicts in a model folder (loaded with weights_only=True)")
    p.add_argument("--region", default="USA", help="ISO 3166 alpha-3 country code for CO2e (default: USA)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def spec_from_args(args: argparse.Namespace) -> AuditSpec:
    extra = {"dp_record_path": args.dp_record} if getattr(args, "dp_record", None) else {}
    return AuditSpec(target=args.target, sensitive=split_columns(args.sensitive), features=split_columns(args.features),
                     text_column=args.text_column, prediction_column=args.prediction_column,
                     score_column=args.score_column, positive_label=str(args.positive_label), extra=extra)


def progress_bar(quiet: bool):
    """A tqdm-driven progress callback, or None."""
    if quiet:
        return None
    from tqdm import tqdm

    bar = tqdm(total=0, unit="row", desc="inference", file=sys.stderr, leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
    return update


def run(args: argparse.Namespace) -> int:
    from auditkit.audit import write_audit
    from auditkit.service import audit_and_record

    result = audit_and_record(args.data, spec_from_args(args), model=args.model, policy=args.policy,
                              name=args.name or Path(args.data).name, device=args.device, batch_size=args.batch_size,
                              progress=progress_bar(args.quiet), allow_pickle_weights=args.allow_pickle_weights,
                              region=args.region, engine=engine_setting(args))
    print(f"wrote {write_audit(result.audit, args.out)} (audit {result.audit_id})")
    if args.junit:
        Path(args.junit).write_text(result.scorecard.to_junit_xml(), encoding="utf-8")
    card = result.scorecard
    print(f"policy {card.policy}: {card.count('pass')} passed, {card.count('fail')} failed, "
          f"{card.count('not_measured')} not measured")
    for line in card.results:
        if line.status == "fail":
            print(f"  FAIL {line.name}: {line.message}")
    return 0 if args.exit_zero else card.exit_code
