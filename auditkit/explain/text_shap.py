"""Token-level SHAP for text classifiers: shap's Partition explainer with the model's tokenizer as masker."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any, Sequence

import numpy as np

from auditkit.explain.base import Progress, StopCheck, TokenAttribution
from auditkit.explain.text_model import TextScorer, fit_to_model

DEFAULT_MAX_EVALS = 500
SHAP_TEXT_BATCH = 5  # shap.maskers.Text's default batch: keeps each text's evaluation order identical to shap's


class CrossTextBatcher:
    """Merges the model calls of texts explained concurrently (one thread per text) into one forward pass.

    Each thread's Partition explainer asks for its next few masked texts; once every active thread has asked,
    the last one to ask scores all the requests in one batch and wakes the others. Every text keeps shap's own
    evaluation order, so the values are those of shap.Explainer; only the batching changes.
    """

    def __init__(self, scorer: TextScorer, active: int):
        self.scorer = scorer
        self.active = active
        self.pending: list[dict[str, Any]] = []
        self.cond = threading.Condition()

    def _flush(self) -> None:
        batch, self.pending = self.pending, []
        try:
            scores = self.scorer([t for req in batch for t in req["texts"]])
        except BaseException as exc:  # hand the error to every waiting thread
            for req in batch:
                req["error"] = exc
        else:
            start = 0
            for req in batch:
                req["out"] = scores[start:start + len(req["texts"])]
                start += len(req["texts"])
        for req in batch:
            req["done"] = True
        self.cond.notify_all()

    def __call__(self, texts: Sequence[str] | np.ndarray) -> np.ndarray:
        req: dict[str, Any] = {"texts": [str(t) for t in texts], "done": False}
        with self.cond:
            self.pending.append(req)
            if len(self.pending) >= self.active:
                self._flush()
            while not req["done"]:
                self.cond.wait()
        if "error" in req:
            raise req["error"]
        return req["out"]

    def leave(self) -> None:
        """A thread has no more texts: stop waiting for it."""
        with self.cond:
            self.active -= 1
            if self.pending and len(self.pending) >= self.active:
                self._flush()


def explain_texts(scorer: TextScorer, texts: Sequence[str], *, max_evals: int = DEFAULT_MAX_EVALS,
                  concurrency: int = 16, progress: Progress | None = None, should_stop: StopCheck | None = None
                  ) -> tuple[list[TokenAttribution], list[bool]]:
    """Partition SHAP values per token of each text, and whether each text had to be cut to the model's limit.

    Up to `concurrency` texts are explained at once and their model calls are merged into one batch on the
    model's device (`CrossTextBatcher`); each text is explained exactly as shap.Explainer would (same masker,
    same `max_evals`, same evaluation order). `progress(done, total)` and `should_stop()` are called from the
    calling thread; once `should_stop()` is true no further text is started, the texts under way are finished,
    and both lists cover only the first texts (fewer than `texts`: the run was stopped early).
    """
    fitted = [fit_to_model(t, scorer.tokenizer, scorer.limit) for t in texts]
    todo = [t for t, _ in fitted]
    n_threads = max(1, min(concurrency, len(todo)))
    batcher = CrossTextBatcher(scorer, n_threads)
    results: list[Any] = [None] * len(todo)
    stop = threading.Event()
    started = [0]  # texts start in order, so the texts started are always the first ones
    queue_lock = threading.Lock()

    def next_text() -> int | None:
        with queue_lock:
            i = started[0]
            if i >= len(todo) or (stop.is_set() and i > 0):  # the first text always runs
                return None
            started[0] += 1
            return i

    def worker() -> None:
        import shap

        try:
            while (i := next_text()) is not None:
                explainer = shap.explainers.Partition(batcher, shap.maskers.Text(scorer.tokenizer))
                results[i] = explainer([todo[i]], max_evals=max_evals, batch_size=SHAP_TEXT_BATCH, silent=True)
        finally:
            batcher.leave()

    with ThreadPoolExecutor(max_workers=n_threads) as pool:
        futures = [pool.submit(worker) for _ in range(n_threads)]
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=0.25)
            if should_stop is not None and not stop.is_set() and should_stop():
                with queue_lock:
                    stop.set()
            if progress is not None:
                progress(sum(r is not None for r in results), len(todo))
        for future in futures:
            future.result()
    n_done = next((i for i, r in enumerate(results) if r is None), len(results))
    outputs = scorer(todo[:n_done])
    out = []
    for i, result in enumerate(results[:n_done]):
        values = np.asarray(result.values[0], dtype=np.float64)
        base = float(np.asarray(result.base_values[0]).reshape(-1)[0])
        out.append(TokenAttribution(tokens=tuple(str(t) for t in result.data[0]), values=values, base_value=base,
                                    output_value=float(outputs[i]), method="partition", output=scorer.output))
    return out, [cut for _, cut in fitted[:n_done]]


def token_aggregates(attributions: Sequence[TokenAttribution], *, top: int = 20,
                     min_count: int = 2) -> list[dict[str, Any]]:
    """Tokens ranked by mean contribution (lower-cased, whitespace stripped), keeping those seen `min_count` times."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for a in attributions:
        for tok, v in zip(a.tokens, a.values):
            key = tok.strip().lower()
            if not key:
                continue
            sums[key] = sums.get(key, 0.0) + float(v)
            counts[key] = counts.get(key, 0) + 1
    rows = [{"token": k, "mean": sums[k] / counts[k], "count": counts[k]} for k in sums if counts[k] >= min_count]
    rows.sort(key=lambda r: (-abs(r["mean"]), r["token"]))
    return rows[:top]
