"""Run a long engine call (DP training, a sweep) in a background thread and read its progress from anywhere."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable

from auditkit.errors import AuditkitError


class BackgroundJob:
    """`fn(*args, progress=..., **kwargs)` in a daemon thread.

    Keeps progress, the result, a user-fixable error's message (`error`) and any other exception (`exception`).
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
        self._thread = threading.Thread(target=self._run, args=(fn, args, kwargs), daemon=True, name=label)
        self._thread.start()

    def _progress(self, done: int, total: int) -> None:
        with self._lock:
            self.done, self.total = done, total

    def _run(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        try:
            self.result = fn(*args, progress=self._progress, **kwargs)
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
