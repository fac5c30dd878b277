"""DP-SGD cost against non-private training of the same MLP (20-64-64-1), same data, same batch size.

Each configuration runs in its own process (so peak memory is its own), `--repeats` times; the table shows the
median epoch time, the ratio to the non-private epoch with the same tensor-based Poisson sampler, and the growth
of the process's peak resident memory during training. Also times noise calibration for a target epsilon.

    OMP_NUM_THREADS=1 python bench/privacy.py [--rows 50000] [--repeats 3] [--text]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MODES = ("dataloader", "fused", "ghost", "hooks", "opacus-loader")


def _data(rows: int):
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, 20)).astype(np.float32)
    y = (X @ rng.normal(size=20) + 0.5 * rng.normal(size=rows) > 0).astype(int)
    return X, y


def run_one(mode: str, rows: int, batch: int) -> dict:
    """One epoch in this process after a small warm-up run of the same configuration (imports, allocator);
    returns seconds (training loop only) and the growth of peak RSS during the measured run in MiB."""
    _epoch(mode, 2 * batch, batch)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = _epoch(mode, rows, batch)
    out["peak_mib"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    return out


def _epoch(mode: str, rows: int, batch: int) -> dict:
    import warnings

    import torch
    from opacus import PrivacyEngine
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    from auditkit.privacy.training import dp_train
    from auditkit.tabular import TabularMLP

    X, y = _data(rows)
    torch.manual_seed(0)
    model = TabularMLP(20, hidden=(64, 64))
    out: dict = {"mode": mode}
    if mode in ("dataloader", "opacus-loader"):
        loader = DataLoader(TensorDataset(torch.tensor(X), torch.tensor(y, dtype=torch.float32)), batch_size=batch,
                            shuffle=mode == "dataloader")
        opt, loss_fn, net = torch.optim.Adam(model.parameters(), lr=1e-2), nn.BCEWithLogitsLoss(), model
        if mode == "opacus-loader":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                net, opt, loader = PrivacyEngine(accountant="rdp").make_private(
                    module=model, optimizer=opt, data_loader=loader, noise_multiplier=1.0, max_grad_norm=1.0)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for xb, yb in loader:
                opt.zero_grad(set_to_none=True)
                loss_fn(net(xb), yb).backward()
                opt.step()
        out["seconds"] = time.perf_counter() - start
    else:
        r = dp_train(model, X, y, target_epsilon=2.0, target_delta=1e-5, epochs=1, batch_size=batch, lr=1e-2,
                     grad_sample_mode=mode, baseline=mode == "fused", curve_points=1)
        out.update(seconds=r.seconds, baseline_seconds=r.baseline_seconds, epsilon=r.epsilon,
                   noise_multiplier=r.noise_multiplier, steps=r.steps)
    return out


def calibration_seconds(rows: int, batch: int) -> dict[str, float]:
    from auditkit.privacy.accounting import noise_for_epsilon

    steps = -(-rows // batch)
    out = {}
    for acc in ("rdp", "prv"):
        start = time.perf_counter()
        noise_for_epsilon(2.0, 1 / steps, steps, delta=1e-5, accountant=acc)
        out[acc] = time.perf_counter() - start
    return out


def text_head(rows: int, epochs: int) -> dict:
    """DP fine-tuning of the MiniLM classifier head on the review demo: feature pass, then DP vs non-private."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from auditkit.privacy.text import head_features
    from auditkit.privacy.training import dp_train
    from models.reviews import base_model_dir, generate

    hf_logging.set_verbosity_error()
    df = generate(rows, seed=0)
    texts, labels = df["text"].tolist(), df["label"].to_numpy()
    model = AutoModelForSequenceClassification.from_pretrained(base_model_dir(), num_labels=2, use_safetensors=True,
                                                               local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(base_model_dir(), local_files_only=True)
    start = time.perf_counter()
    feats = head_features(model, tokenizer, texts)
    features_s = time.perf_counter() - start
    r = dp_train(model.classifier, feats, labels, target_epsilon=2.0, target_delta=1e-5, epochs=epochs,
                 batch_size=64, curve_points=1)
    return {"rows": rows, "epochs": epochs, "features_s": features_s, "dp_s": r.seconds,
            "nonprivate_s": r.baseline_seconds, "mode": r.grad_sample_mode}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=50_000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--text", action="store_true", help="also time DP fine-tuning of the MiniLM text head")
    p.add_argument("--one", choices=MODES, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, args.rows, args.batch)))
        return
    runs: dict[str, list[dict]] = {m: [] for m in MODES}
    for _ in range(args.repeats):
        for mode in MODES:
            res = subprocess.run([sys.executable, __file__, "--one", mode, "--rows", str(args.rows), "--batch",
                                  str(args.batch)], capture_output=True, text=True, check=True, cwd=ROOT,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
            runs[mode].append(json.loads(res.stdout.strip().splitlines()[-1]))
    nonprivate = statistics.median(r["baseline_seconds"] for r in runs["fused"])
    paired = statistics.median(r["seconds"] / r["baseline_seconds"] for r in runs["fused"])
    print(f"MLP 20-64-64-1, {args.rows:,} rows, batch {args.batch}, 1 epoch, median of {args.repeats} runs, "
          f"each configuration in its own process")
    print(f"{'configuration':<44}{'seconds':>9}{'ratio':>8}{'peak MiB':>10}")
    print(f"{'non-private, tensor Poisson sampler':<44}{nonprivate:>9.3f}{1.0:>8.2f}{'':>10}")
    labels = {"dataloader": "non-private, DataLoader (shuffle)", "fused": "DP-SGD fused linear clipping (auto)",
              "ghost": "DP-SGD Opacus ghost clipping", "hooks": "DP-SGD Opacus hooks",
              "opacus-loader": "DP-SGD Opacus hooks + DPDataLoader"}
    for mode in MODES:
        sec = statistics.median(r["seconds"] for r in runs[mode])
        mem = statistics.median(r["peak_mib"] for r in runs[mode])
        print(f"{labels[mode]:<44}{sec:>9.3f}{sec / nonprivate:>8.2f}{mem:>10.1f}")
    print(f"fused DP-SGD / non-private in the same process, back to back (median of {args.repeats}): {paired:.2f}")
    print("ratio: seconds / non-private seconds; peak MiB: growth of the process's peak RSS during the measured "
          "run (data copies included; the fused row also trains the non-private baseline)")
    cal = calibration_seconds(args.rows, args.batch)
    print(f"noise calibration for epsilon 2 at delta 1e-5: rdp {cal['rdp']:.2f} s, prv {cal['prv']:.2f} s")
    if args.text:
        t = text_head(1000, 5)
        print(f"text head (MiniLM classifier, {t['rows']} reviews, {t['epochs']} epochs, {t['mode']} clipping): "
              f"encoder feature pass {t['features_s']:.2f} s once, then DP {t['dp_s']:.3f} s vs non-private "
              f"{t['nonprivate_s']:.3f} s (ratio {t['dp_s'] / t['nonprivate_s']:.2f})")


if __name__ == "__main__":
    main()
