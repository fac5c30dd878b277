"""The app's side of the model worker: start it, call operations with a deadline, stop it.

`worker_for` keeps one worker per model (family, content hash, load options), reused across batches, panels and
sessions, and stops the least recently used one beyond `AUDITKIT_MAX_WORKERS`.
"""
from __future__ import annotations

import atexit
import dataclasses
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable

from auditkit.config import Settings, env_int
from auditkit.errors import AuditkitError
from auditkit.worker import codec
from auditkit.worker.sandbox import Limits

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOAD_SECONDS = 600.0  # starting the worker and loading the model
_PASS_ENV = ("PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "AUDITKIT_PLUGINS")


class WorkerError(AuditkitError):
    """The model worker failed: it crashed, ran out of a resource, or sent something that is not data."""


class WorkerTimeout(WorkerError):
    """The model did not answer within the time limit and its worker was stopped."""


@dataclasses.dataclass(frozen=True)
class WorkerLimits:
    """Per-worker limits, from the environment: memory (GiB), CPU seconds, seconds per call, message size (MiB)."""

    memory_gb: int = 16
    cpu_seconds: int = 4 * 3600
    call_seconds: int = 1800
    message_mb: int = 4096

    @classmethod
    def from_env(cls) -> "WorkerLimits":
        return cls(memory_gb=env_int("AUDITKIT_WORKER_MEMORY_GB", cls.memory_gb, "GiB of memory per model worker"),
                   cpu_seconds=env_int("AUDITKIT_WORKER_CPU_SECONDS", cls.cpu_seconds, "CPU seconds per model worker"),
                   call_seconds=env_int("AUDITKIT_WORKER_TIMEOUT_SECONDS", cls.call_seconds,
                                        "seconds one call to a model worker may take"),
                   message_mb=env_int("AUDITKIT_WORKER_MESSAGE_MB", cls.message_mb, "MiB one worker message may hold"))


class ModelWorker:
    """One contained process holding one loaded model."""

    def __init__(self, family: str, path: Path, sha256: str, settings: Settings, options: dict[str, Any],
                 limits: WorkerLimits | None = None) -> None:
        self.family, self.path, self.sha256, self.settings, self.options = family, path, sha256, settings, options
        self.limits = limits or WorkerLimits.from_env()
        self.info: Any = None
        self.protections: dict[str, Any] = {}
        self._proc: subprocess.Popen | None = None
        self._scratch: Path | None = None
        self._lock = threading.Lock()

    def start(self) -> Any:
        """Start the worker and load the model in it; returns the model's description (`ModelInfo`)."""
        import torch

        self.close()  # a worker that died leaves its scratch folder behind
        self._scratch = Path(tempfile.mkdtemp(prefix="auditkit-worker-", dir=_shared_memory()))
        gpu = torch.cuda.is_available()
        env = {k: os.environ[k] for k in _PASS_ENV if k in os.environ}
        env.update(HOME=str(self._scratch), TMPDIR=str(self._scratch), PYTHONPATH=_import_path(),
                   PYTHONDONTWRITEBYTECODE="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                   HF_HOME=str(self._scratch / "hf"), TOKENIZERS_PARALLELISM="false",
                   MPLCONFIGDIR=str(self._scratch), NUMBA_CACHE_DIR=str(self._scratch))
        log = open(self._scratch / "worker.log", "wb")
        self._proc = subprocess.Popen([sys.executable, "-m", "auditkit.worker"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=log, cwd=self._scratch, env=env,
                                      start_new_session=True, close_fds=True)
        log.close()
        settings = {f.name: getattr(self.settings, f.name) for f in dataclasses.fields(self.settings)}
        settings["home"] = str(settings["home"])
        limits = Limits(memory_bytes=None if gpu else self.limits.memory_gb << 30, cpu_seconds=self.limits.cpu_seconds,
                        gpu=gpu)
        ready = self._exchange({"family": self.family, "path": str(self.path), "sha256": self.sha256,
                                "settings": settings, "options": self.options, "scratch": str(self._scratch),
                                "limits": dataclasses.asdict(limits), "readable": _readable(self.path)}, {},
                               seconds=LOAD_SECONDS)
        self.info, self.protections = ready["ready"], ready["protections"]
        return self.info

    def call(self, op: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run the registered operation `op` on the model; callables in `kwargs` are called back here."""
        callbacks = {k: v for k, v in kwargs.items() if callable(v)}
        data = {k: v for k, v in kwargs.items() if k not in callbacks}
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self.start()
            return self._exchange({"op": op, "args": list(args), "kwargs": data, "callbacks": list(callbacks)},
                                  callbacks, seconds=self.limits.call_seconds)["result"]

    def close(self) -> None:
        """Stop the worker and remove its scratch folder."""
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._proc.stdin.close()  # type: ignore[union-attr]
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._kill()
        self._proc = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def _exchange(self, message: dict[str, Any], callbacks: dict[str, Callable[..., Any]], *,
                  seconds: float) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdin is not None and self._proc.stdout is not None
        deadline = time.monotonic() + seconds
        try:
            spill = None if "scratch" in message else self._scratch  # the start message travels whole
            codec.write_message(self._proc.stdin, message, spill=spill)
            reader = _DeadlineReader(self._proc.stdout, deadline)
            while True:
                reply = codec.read_message(reader, max_bytes=self.limits.message_mb << 20, spill=self._scratch)
                if not isinstance(reply, dict):
                    raise codec.CodecError("the worker sent a message of the wrong shape")
                if "callback" not in reply:
                    break
                try:
                    value = callbacks[reply["callback"]](*reply["args"])
                except BaseException:  # e.g. the page was stopped: the worker is mid-call, so it goes
                    self._kill()
                    raise
                codec.write_message(self._proc.stdin, {"value": value}, spill=self._scratch)
        except WorkerTimeout:
            self._kill()
            raise WorkerTimeout(f"the model did not finish within {seconds:.0f} s and was stopped. "
                                "Fix: use a smaller sample, or raise AUDITKIT_WORKER_TIMEOUT_SECONDS.") from None
        except (EOFError, BrokenPipeError, OSError) as e:
            why = self._why(e)
            self._kill()
            raise WorkerError(f"the model worker stopped unexpectedly ({why}). The model may have run out of "
                              "memory or CPU time (AUDITKIT_WORKER_MEMORY_GB, AUDITKIT_WORKER_CPU_SECONDS).") from None
        except codec.CodecError as e:
            self._kill()
            raise WorkerError(f"the model worker sent something that is not data, so it was stopped ({e}).") from None
        if "error" in reply:
            raise _error_type(reply.get("type"))(str(reply["error"]))
        return reply

    def _why(self, e: BaseException) -> str:
        """Why the worker stopped: the signal that killed it, else the last line it wrote to its log."""
        try:
            code = self._proc.wait(timeout=2) if self._proc is not None else None
        except subprocess.TimeoutExpired:
            code = None
        if code is not None and code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        log = self._scratch / "worker.log" if self._scratch else None
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log and log.is_file() else []
        return tail[0] if tail else str(e) or type(e).__name__

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self._proc.wait()


class _DeadlineReader:
    """A readinto() over a pipe that raises WorkerTimeout once the deadline has passed."""

    def __init__(self, stream: Any, deadline: float) -> None:
        self.fd, self.deadline = stream.fileno(), deadline

    def readinto(self, view: memoryview) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0 or not select.select([self.fd], [], [], left)[0]:
            raise WorkerTimeout()
        return os.readv(self.fd, [view])


def _shared_memory() -> str | None:
    """Where worker scratch folders go: shared memory (/dev/shm) when the system has it, so large arrays pass
    between the processes as shared pages; else the default temporary folder."""
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


def _error_type(name: Any) -> type[AuditkitError]:
    """The AuditKit error class the worker named (its own message is kept), else WorkerError."""
    def subclasses(cls: type) -> list[type]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]
    for cls in subclasses(AuditkitError):
        if cls.__name__ == name:
            return cls
    return WorkerError


def _import_path() -> str:
    """The worker imports from where this process does (AuditKit, plug-ins), AuditKit's own folder first."""
    entries = [str(_PROJECT_ROOT), *(str(Path(p).resolve()) for p in sys.path if p and Path(p).is_dir())]
    return os.pathsep.join(dict.fromkeys(entries))


def _readable(model_path: Path) -> list[str]:
    """What the worker may read: the Python installation and its import path, AuditKit, and the model."""
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), Path(sys.executable).resolve().parent,
             _PROJECT_ROOT, model_path.resolve()}
    paths.update(Path(p).resolve() for p in sys.path if p and Path(p).is_dir())
    return sorted(str(p) for p in paths)


_pool: OrderedDict[tuple, ModelWorker] = OrderedDict()
_pool_lock = threading.Lock()


def worker_for(family: str, path: Path, sha256: str, settings: Settings, options: dict[str, Any]) -> ModelWorker:
    """The running worker for this model (started and loaded on first use); one per model, load options and
    plug-in list (a worker imports the plug-ins named when it started)."""
    key = (family, sha256, tuple(sorted(options.items())), os.environ.get("AUDITKIT_PLUGINS", ""))
    with _pool_lock:
        worker = _pool.get(key)
        if worker is not None and worker._proc is not None and worker._proc.poll() is None:
            _pool.move_to_end(key)
            return worker
        worker = ModelWorker(family, path, sha256, settings, options)
        try:
            worker.start()
        except BaseException:
            worker.close()
            raise
        _pool[key] = worker
        while len(_pool) > _max_workers():
            _pool.popitem(last=False)[1].close()
        return worker


def _max_workers() -> int:
    return env_int("AUDITKIT_MAX_WORKERS", 4, "model workers kept running at once")


@atexit.register
def close_all() -> None:
    """Stop every worker (at exit)."""
    with _pool_lock:
        while _pool:
            _pool.popitem()[1].close()
