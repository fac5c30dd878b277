"""The model worker's pipe carries data only, and a worker that hangs or dies gives a message, not a hang.

This module is a plug-in (`AUDITKIT_PLUGINS=<its name>`), so the worker can run the operations defined here.
"""
from __future__ import annotations

import dataclasses
import io
import os
import signal
import time

import numpy as np
import pandas as pd
import pytest

from auditkit.checkpoints.loader import load_model
from auditkit.worker import codec
from auditkit.worker.client import WorkerError, WorkerTimeout
from auditkit.worker.ops import worker_op
from tests.builders import tabular_model


def roundtrip(obj: object) -> object:
    """`obj` encoded and decoded again, as the other side of the pipe would see it."""
    stream = io.BytesIO()
    codec.write_message(stream, obj)
    stream.seek(0)
    return codec.read_message(stream, max_bytes=1 << 62)


@codec.transferable
@dataclasses.dataclass(frozen=True)
class Record:
    name: str
    values: np.ndarray
    nested: tuple


@dataclasses.dataclass(frozen=True)
class Unregistered:
    value: int


@worker_op
def sleep(model: object, seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@worker_op
def die(model: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


@worker_op
def echo(model: object, value: object) -> object:
    return value


@worker_op
def send_object(model: object) -> object:
    return Unregistered(1)


def test_the_codec_carries_data_exactly():
    value = {"a": np.arange(6, dtype=np.int16).reshape(2, 3), ("t", 1): [1.5, float("nan"), float("-inf"), None, True],
             "s": np.array(["x", "yz"]), "o": np.array(["x", None, 3], dtype=object), "b": b"\x00\x80",
             "f": pd.DataFrame({"g": ["a", "b"], "v": [0.5, 1.5]}), "r": Record("r", np.ones(3), (1, "two")),
             "scalar": np.float32(2.5), "empty": np.zeros((0, 4))}
    back = roundtrip(value)
    assert back.keys() == value.keys()
    np.testing.assert_array_equal(back["a"], value["a"]) and back["a"].dtype == np.int16
    assert back[("t", 1)][0] == 1.5 and np.isnan(back[("t", 1)][1]) and back[("t", 1)][2:] == [float("-inf"), None, True]
    assert back["s"].tolist() == ["x", "yz"] and back["o"].tolist() == ["x", None, 3] and back["b"] == b"\x00\x80"
    pd.testing.assert_frame_equal(back["f"], value["f"])
    assert isinstance(back["r"], Record) and back["r"].nested == (1, "two") and back["r"].values.tolist() == [1, 1, 1]
    assert back["scalar"] == np.float32(2.5) and back["scalar"].dtype == np.float32 and back["empty"].shape == (0, 4)


@pytest.mark.parametrize("value, message", [
    (Unregistered(1), "cannot cross the worker boundary"),
    (object(), "cannot cross the worker boundary"),
    (np.array([1 + 2j]), "dtype complex128 cannot cross"),
    (lambda: 1, "cannot cross the worker boundary"),
])
def test_the_codec_refuses_anything_but_data(value, message):
    with pytest.raises(codec.CodecError, match=message):
        codec.encode(value)


@pytest.mark.parametrize("tree, message", [
    ({"$": "dc", "cls": "os.system", "f": {}}, "not a registered result type"),
    ({"$": "nd", "dtype": "|O", "shape": [1], "b": 0}, "not plain data"),
    ({"$": "nd", "dtype": "<f4", "shape": [3], "b": 0}, "bytes do not match its shape"),
    ({"$": "nd", "dtype": "<f4", "shape": [-1], "b": 0}, "negative dimension"),
    ({"$": "nd", "dtype": "<f4", "shape": [1], "b": 7}, "missing buffer"),
    ({"$": "pickle", "v": "gASV"}, "unknown kind of value"),
    ({"plain": "dict"}, "untagged object"),
])
def test_decoding_builds_only_data(tree, message):
    import json

    with pytest.raises(codec.CodecError, match=message):
        codec.decode(json.dumps(tree).encode(), [b"\x00" * 8])


def test_a_message_over_the_size_limit_is_refused_before_it_is_read():
    stream = io.BytesIO()
    codec.write_message(stream, np.zeros(1000))
    stream.seek(0)
    with pytest.raises(codec.CodecError, match="larger than the size limit"):
        codec.read_message(stream, max_bytes=100)


@pytest.fixture
def model(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITKIT_PLUGINS", __name__)
    monkeypatch.setenv("AUDITKIT_WORKER_TIMEOUT_SECONDS", "3")
    return load_model(tabular_model(tmp_path / "m.pt2", seed=7))


def test_a_call_past_its_deadline_is_stopped_with_a_message_and_the_next_call_starts_afresh(model):
    start = time.monotonic()
    with pytest.raises(WorkerTimeout, match="did not finish within 3 s and was stopped. Fix: .*AUDITKIT_WORKER_TIMEOUT_SECONDS"):
        model.run(sleep, 60)
    assert time.monotonic() - start < 20
    assert model.run(echo, {"x": np.arange(3)})["x"].tolist() == [0, 1, 2]


def test_a_worker_that_dies_gives_a_message_and_the_next_call_starts_afresh(model):
    with pytest.raises(WorkerError, match="stopped unexpectedly \\(killed by signal SIGKILL\\)"):
        model.run(die)
    assert model.run(sleep, 0.01) == 0.01


def test_a_worker_that_sends_an_object_is_refused(model):
    with pytest.raises(codec.CodecError, match="Unregistered cannot cross the worker boundary"):
        model.run(send_object)
    assert model.run(echo, 5) == 5


def test_only_registered_functions_run_in_the_worker(model):
    with pytest.raises(TypeError, match="is not registered with worker_op"):
        model.run(print, "hello")


def test_a_fresh_worker_decodes_a_record_of_a_module_it_has_not_imported(tmp_path):
    """The SHAP background (a registered record of auditkit.explain.base) as the first request of a new worker."""
    from auditkit.explain import model_ops, summarize_background
    from tests.builders import in_process

    path = tabular_model(tmp_path / "fresh.pt2", n_features=3)
    fresh = load_model(path)
    fresh.worker.close()  # the next call starts a new worker process
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    options = dict(background=summarize_background(x, size=10, seed=0), method="deep", output_index=None,
                   feature_names=("a", "b", "c"), seed=0)
    attribution = fresh.run(model_ops.shap_rows, x[:5], **options)
    want = model_ops.shap_rows(in_process(path), x[:5], **options)
    np.testing.assert_allclose(attribution.values, want.values, atol=1e-6)
    assert attribution.values.shape == (5, 3) and attribution.additivity_error < 1e-5


@worker_op
def exit_with_message(model: object) -> None:
    import sys

    print("the model's own last words", file=sys.stderr, flush=True)
    os._exit(3)


def test_a_worker_that_exits_by_itself_is_reported_with_its_last_words(model):
    with pytest.raises(WorkerError, match="stopped unexpectedly \\(the model's own last words\\)"):
        model.run(exit_with_message)


def test_large_arrays_pass_through_shared_files_that_are_removed_and_cannot_point_elsewhere(tmp_path):
    big = np.arange(codec.SPILL_BYTES // 4 + 10, dtype=np.float32)
    stream = io.BytesIO()
    codec.write_message(stream, {"x": big, "small": np.arange(3)}, spill=tmp_path)
    assert len(stream.getvalue()) < 1000 and len(list(tmp_path.iterdir())) == 1  # the bytes went to the file
    stream.seek(0)
    back = codec.read_message(stream, max_bytes=1 << 40, spill=tmp_path)
    np.testing.assert_array_equal(back["x"], big) and back["small"].tolist() == [0, 1, 2]
    back["x"][0] = 7  # the mapping is private: writable, and nothing is written back
    assert list(tmp_path.iterdir()) == []
    stream.seek(0)
    (tmp_path / "secret").write_bytes(b"\x00" * 16)
    frame = stream.getvalue()
    at = frame.index(b".buf") - 32  # the file name in the frame
    forged = frame[:at] + b"../secret".ljust(36, b"x") + frame[at + 36:]
    with pytest.raises(codec.CodecError, match="may not use"):
        codec.read_message(io.BytesIO(forged), max_bytes=1 << 40, spill=tmp_path)
    with pytest.raises(codec.CodecError, match="larger than the size limit"):
        stream.seek(0)
        codec.read_message(stream, max_bytes=1000, spill=tmp_path)


@worker_op
def report_progress(model: object, steps: int, *, progress) -> int:  # noqa: ANN001
    for i in range(steps):
        progress(i + 1, steps)
    return steps


def test_a_caller_that_stops_during_a_callback_stops_the_worker_and_the_next_call_starts_afresh(model):
    class Stopped(Exception):
        pass

    def stop_at_two(done: int, total: int) -> None:
        if done == 2:
            raise Stopped()

    with pytest.raises(Stopped):
        model.run(report_progress, 5, progress=stop_at_two)
    assert model.worker._proc is None or model.worker._proc.poll() is not None  # no half-answered call left
    seen: list[int] = []
    assert model.run(report_progress, 3, progress=lambda d, t: seen.append(d)) == 3 and seen == [1, 2, 3]
