"""Long engine calls (audits, DP training, sweeps) share a bounded number of worker slots, so one user's job
cannot starve every other session; `BackgroundJob` runs one in a thread, exposes its progress and can be asked
to stop."""
from __future__ import annotations

import contextvars
import inspect
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from auditkit.config import max_jobs
from auditkit.errors import AuditkitError

_pool: list[threading.BoundedSemaphore] = []
_pool_lock = threading.Lock()


def _slot_pool() -> threading.BoundedSemaphore:
    """The process-wide worker slots, `$AUDITKIT_MAX_JOBS` of them, made on first use (so a value that does not
    parse is a `SettingsError` when a job starts, not a failed import)."""
    with _pool_lock:
        if not _pool:
            _pool.append(threading.BoundedSemaphore(max_jobs()))
        return _pool[0]


@contextmanager
def job_slot(on_wait: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold one of the process-wide worker slots for the block; `on_wait` is called if none is free."""
    slots = _slot_pool()
    if not slots.acquire(blocking=False):
        if on_wait is not None:
            on_wait()
        slots.acquire()
    try:
        yield
    finally:
        slots.release()


def accepts_should_stop(fn: Callable[..., Any]) -> bool:
    """Whether `fn` takes a `should_stop` keyword argument by name."""
    try:
        param = inspect.signature(fn).parameters.get("should_stop")
    except (TypeError, ValueError):  # builtins and some C callables have no signature
        return False
    return param is not None and param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD)


class BackgroundJob:
    """`fn(*args, progress=..., **kwargs)` in a daemon thread.

    Keeps progress, the result, a user-fixable error's message (`error`) and any other exception (`exception`).
    `cancel()` asks the job to stop: a job still waiting for a worker slot never starts (`result` stays None), and
    a function that takes `should_stop` also receives `should_stop=` (a callable that turns True on `cancel()`) and
    decides itself what to return when it stops early. Other functions run to the end.
    """

    def __init__(self, label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        self.label = label
        self.done = 0
        self.total = 0
        self.result: Any = None
        self.error: str | None = None
        self.exception: Exception | None = None
        self.started = time.time()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if accepts_should_stop(fn):
            kwargs = {**kwargs, "should_stop": self._stop.is_set}
        context = contextvars.copy_context()  # the job acts as whoever started it (see auditkit.access)
        self._thread = threading.Thread(target=context.run, args=(self._run, fn, args, kwargs), daemon=True,
                                        name=label)
        self._thread.start()

    def _progress(self, done: int, total: int) -> None:
        with self._lock:
            self.done, self.total = done, total

    def cancel(self) -> None:
        """Ask the job to stop as soon as it can (see the class docstring)."""
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        """Whether `cancel()` has been called."""
        return self._stop.is_set()

    def _acquire_slot(self) -> bool:
        """Wait for a worker slot; False when the job is cancelled first."""
        while not _slot_pool().acquire(timeout=0.1):
            if self._stop.is_set():
                return False
        return True

    def _run(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        try:
            if not self._acquire_slot():
                return
            try:
                self.result = fn(*args, progress=self._progress, **kwargs)
            finally:
                _slot_pool().release()
        except AuditkitError as e:
            self.error = str(e)
        except Exception as e:  # re-raised by the reader, where it can be reported
            self.exception = e

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def fraction(self) -> float:
        with self._lock:
            return min(self.done / self.total, 1.0) if self.total else 0.0

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job ends (or `timeout` seconds); True when it has ended."""
        self._thread.join(timeout)
        return not self.running
