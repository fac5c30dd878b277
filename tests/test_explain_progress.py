"""Long explanation runs: progress callbacks, stopping early with exact partial results, job cancellation and
the Explanations page's progress bar, Stop button and partial-result note."""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest
from tests.test_explain_section import biased_context
from tests.test_explain_text import _corpus, _text_context, tiny  # noqa: F401  (tiny is a fixture)

from auditkit import jobs
from auditkit.config import max_jobs
from auditkit.explain import explain_tabular, summarize_background
from auditkit.explain.tabular import explain_tabular_audit
from auditkit.explain.text import explain_text_audit
from auditkit.explain.text_model import TextScorer
from auditkit.explain.text_shap import explain_texts
from auditkit.jobs import BackgroundJob, accepts_should_stop
from auditkit.tabular import TabularMLP

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "explanations.py")


def _monotonic(seen: list[tuple[int, int]], total: int) -> bool:
    done = [d for d, _ in seen]
    return all(t == total for _, t in seen) and done == sorted(done) and done[-1] == total


@pytest.fixture(scope="module")
def mlp():
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(300, 5)) * [1, 2, 4, 1, 0.5]).astype(np.float32)
    torch.manual_seed(0)
    return TabularMLP(5, hidden=(16, 8), mean=x.mean(0), std=x.std(0)).eval(), x


@pytest.mark.parametrize("method, n, bg_size, chunk", [("deep", 300, 20, 64), ("permutation", 6, 8, 3),
                                                      ("kernel", 24, 20, 8)])
def test_stopping_after_the_first_chunk_keeps_the_full_runs_values(mlp, method, n, bg_size, chunk):
    model, x = mlp
    bg = summarize_background(x, size=bg_size, seed=1)
    seen: list[tuple[int, int]] = []
    full = explain_tabular(model, x[:n], background=bg, method=method, chunk_size=chunk,
                           progress=lambda d, t: seen.append((d, t)))
    assert _monotonic(seen, n) and len(seen) == -(-n // chunk)
    assert not full.stopped_early and full.to_dict()["rows_explained"] == n

    seen.clear()
    part = explain_tabular(model, x[:n], background=bg, method=method, chunk_size=chunk,
                           progress=lambda d, t: seen.append((d, t)), should_stop=lambda: len(seen) >= 1)
    assert seen == [(chunk, n)]
    assert part.stopped_early and part.values.shape == (chunk, 5)
    np.testing.assert_allclose(part.values, full.values[:chunk], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(part.base_values, full.base_values[:chunk])
    gap = np.abs(part.values.sum(axis=1) + part.base_values - part.outputs).max()
    assert part.additivity_error == pytest.approx(gap) and gap < 1e-5
    d = part.to_dict()
    assert (d["rows_explained"], d["rows_requested"], d["stopped_early"]) == (chunk, n, True)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return biased_context(tmp_path_factory.mktemp("progress"), n=400, hidden=(8,))


def test_audit_stopped_early_covers_a_random_part_exactly(ctx):
    full = explain_tabular_audit(ctx, max_rows=300, chunk_size=100)
    seen: list[tuple[int, int]] = []
    part = explain_tabular_audit(ctx, max_rows=300, chunk_size=100, progress=lambda d, t: seen.append((d, t)),
                                 should_stop=lambda: True)
    assert seen == [(100, 300)] and len(part.rows) == 100
    assert part.rows.tolist() == sorted(part.rows.tolist()) and set(part.rows) <= set(full.rows)
    assert part.rows.max() > full.rows[150]  # a random part of the sample, not its first rows
    at = np.searchsorted(full.rows, part.rows)
    np.testing.assert_allclose(part.attribution.values, full.attribution.values[at], rtol=1e-10, atol=1e-12)
    assert part.attribution.additivity_error < 1e-5
    groups = ctx.sensitive_features["group"].to_numpy()[part.rows]
    for g in ("A", "B"):  # per-group aggregates are over the explained rows only
        np.testing.assert_allclose(list(part.by_group["group"][g].values()),
                                   part.attribution.values[groups == g].mean(axis=0))
    section = part.to_dict()
    assert (section["rows_explained"], section["rows_requested"], section["stopped_early"]) == (100, 300, True)
    assert full.to_dict()["stopped_early"] is False and full.to_dict()["rows_requested"] == 300


def test_text_shap_stops_after_the_texts_under_way(tiny):  # noqa: F811
    model, tok = tiny
    texts, _, _ = _corpus(24, seed=7)
    scorer = TextScorer(model, tok)
    seen: list[tuple[int, int]] = []
    full, _ = explain_texts(scorer, texts, max_evals=200, concurrency=2, progress=lambda d, t: seen.append((d, t)))
    assert _monotonic(seen, 24) and len(full) == 24
    part, cut = explain_texts(scorer, texts, max_evals=200, concurrency=2, should_stop=lambda: True)
    assert 1 <= len(part) < 24 and len(cut) == len(part)
    for a, b in zip(part, full):  # the first texts, with the full run's values
        assert a.tokens == b.tokens
        np.testing.assert_allclose(a.values, b.values, atol=1e-6)  # float32 model: batch composition moves the last bits
        assert a.additivity_error < 1e-6


def test_text_audit_stopped_early_says_so(tiny, tmp_path):  # noqa: F811
    ctx = _text_context(tiny, tmp_path)
    part = explain_text_audit(ctx, max_rows=40, max_evals=200, should_stop=lambda: True)
    d = part.to_dict()
    assert d["stopped_early"] is True and d["rows_requested"] == 40 and d["rows_explained"] == len(part.rows) < 40
    assert part.rows.tolist() == sorted(part.rows.tolist())
    texts = ctx.texts()
    model, tok = tiny  # the weights the worker loaded, here in the test process
    ref, _ = explain_texts(TextScorer(model, tok, max_length=32), [texts[i] for i in part.rows], max_evals=200)
    for a, b in zip(part.attributions, ref):
        np.testing.assert_allclose(a.values, b.values, atol=1e-6)


def test_cancel_stops_a_job_that_takes_should_stop():
    def count(*, progress, should_stop):
        n = 0
        while not should_stop() and n < 10_000:
            n += 1
            progress(n, 10_000)
            time.sleep(0.001)
        return n

    job = BackgroundJob("count", count)
    while job.done < 5:
        time.sleep(0.01)
    job.cancel()
    assert job.wait(10) and job.cancelled
    assert 5 <= job.result < 10_000 and job.done == job.result


def test_functions_without_should_stop_still_run_and_a_waiting_job_never_starts():
    assert accepts_should_stop(lambda *, should_stop=None: 0)
    assert not accepts_should_stop(lambda progress, **kwargs: 0)
    plain = BackgroundJob("plain", lambda progress, **kwargs: sorted(kwargs), flag=1)
    assert plain.wait(10) and plain.result == ["flag"]  # no should_stop forced on it

    started = threading.Event()
    for _ in range(max_jobs()):
        jobs._slot_pool().acquire()
    try:
        waiting = BackgroundJob("waiting", lambda progress: started.set())
        time.sleep(0.2)
        waiting.cancel()
        assert waiting.wait(5)
    finally:
        for _ in range(max_jobs()):
            jobs._slot_pool().release()
    assert not started.is_set() and waiting.result is None


def _held_audit(ctx, *, progress, should_stop, **options):
    """The page's tabular run, held after its first chunk until Stop is pressed (at most 60 s)."""
    def hold() -> bool:
        deadline = time.monotonic() + 60
        while not should_stop() and time.monotonic() < deadline:
            time.sleep(0.01)
        return True

    return explain_tabular_audit(ctx, progress=progress, should_stop=hold, chunk_size=100, **options)


def test_page_shows_progress_stops_and_notes_the_partial_result(ctx):
    ctx = replace(ctx, data_sha256="p" * 64)  # a content key no other test has cached
    key = ("tabular", ctx.data_sha256, ctx.model.sha256, 1000, 100)
    job = BackgroundJob("Explaining the model (SHAP on a sample of rows)", _held_audit, ctx, max_rows=1000,
                        background_size=100)
    deadline = time.monotonic() + 60
    while job.done < 100 and time.monotonic() < deadline:
        time.sleep(0.02)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["audit_context"] = ctx
    at.session_state["explain_jobs"] = {key: job}
    at.session_state["explain_wait_s"] = 0.0
    at.run()
    assert not at.exception
    assert [p.proto.text for p in at.get("progress")] == [
        "Explaining the model (SHAP on a sample of rows): 100 of 400 rows"]
    assert not at.metric  # no results while it runs

    at.button(key="explain_stop_polled").click().run()
    assert not at.exception and job.cancelled
    assert job.wait(30)
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows explained"] == "100"
    assert any("Explained 100 of 400 rows: stopped by you" in w.value for w in at.warning)

    fresh = AppTest.from_file(PAGE, default_timeout=120)  # another session: the partial run was not cached
    fresh.session_state["audit_context"] = ctx
    fresh.run()
    assert not fresh.exception
    assert {m.label: m.value for m in fresh.metric}["Rows explained"] == "400"
    assert not any("stopped by you" in w.value for w in fresh.warning)
