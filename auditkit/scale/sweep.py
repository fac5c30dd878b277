"""Privacy-utility sweeps on Ray: each epsilon target and the non-private baseline train as parallel Ray tasks.

Every task calls the local sweep's own run functions (`sweep_point`, `sweep_baseline`) with the same seed and
options, so the points equal the local sweep's; each point carries its own privacy record (epsilon spent at
delta, noise multiplier, clip norm, sample rate, steps, accountant). Training runs on the worker's CPU.
The untrained template module goes to the workers through Ray's object store (serialised by Ray); it is the
caller's own freshly built module, never a model loaded from an uploaded checkpoint.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

from torch import nn

from auditkit.errors import AuditkitError
from auditkit.privacy.sweep import (
    DEFAULT_TARGETS,
    SweepBaseline,
    SweepPoint,
    SweepResult,
    sweep_baseline,
    sweep_point,
    sweep_result,
    sweep_targets,
)
from auditkit.privacy.training import Progress
from auditkit.scale.cluster import ensure_ray


def completed(refs: Sequence[Any], *, should_stop: Callable[[], bool] | None = None) -> Iterator[tuple[int, Any]]:
    """(position, value) of each Ray object in `refs` as it becomes ready; a task's AuditkitError (a user-fixable
    problem such as a bad setting) is raised again as itself, not wrapped in Ray's task error. Once the first
    value has come and `should_stop()` is true, the tasks not yet finished are cancelled and nothing more comes."""
    import ray

    position = {ref: i for i, ref in enumerate(refs)}
    pending = list(refs)
    first = True
    while pending:
        if not first and should_stop is not None and should_stop():
            for ref in pending:
                ray.cancel(ref)
            return
        ready, pending = ray.wait(pending, num_returns=1, timeout=None if should_stop is None else 0.25)
        if not ready:
            continue
        first = False
        try:
            value = ray.get(ready[0])
        except ray.exceptions.RayTaskError as e:
            if isinstance(e.cause, AuditkitError):
                raise e.cause from None
            raise
        yield position[ready[0]], value


def _run(target: float | None, model: nn.Module, X: Any, y: Any, options: dict[str, Any]) -> SweepPoint | SweepBaseline:
    """One run of the sweep: the non-private baseline when `target` is None."""
    if target is None:
        return sweep_baseline(model, X, y, **options)
    return sweep_point(model, X, y, target=target, **options)


def privacy_utility_sweep_ray(model: nn.Module, X: Any, y: Any, *, targets: Sequence[float] = DEFAULT_TARGETS,
                              target_delta: float, epochs: int, progress: Progress | None = None,
                              address: str | None = None,
                              on_run: Callable[[SweepPoint | SweepBaseline], None] | None = None,
                              **train_options: Any) -> SweepResult:
    """`privacy_utility_sweep` with one Ray task (one CPU) per target and one for the non-private baseline.

    Joins the cluster at `address` (or starts a local one, see `ensure_ray`). `model` is the untrained template
    (sent once through the object store, copied by every task). `progress(done, total)` counts training steps,
    as the local sweep does, advancing as runs finish; `on_run` receives each finished run's record.
    """
    import ray

    ordered = sweep_targets(targets)
    ensure_ray(address)
    task = ray.remote(num_cpus=1)(_run)
    shared = [ray.put(v) for v in (model, X, y, dict(train_options, target_delta=target_delta, epochs=epochs))]
    refs = [task.remote(t, *shared) for t in [*ordered, None]]
    results: list[Any] = [None] * len(refs)
    done = 0
    try:
        for i, run in completed(refs):
            results[i] = run
            done += run.steps
            if on_run is not None:
                on_run(run)
            if progress is not None:
                progress(done, run.steps * len(refs))  # every run takes the same number of steps
    except BaseException:
        for ref in refs:
            ray.cancel(ref)
        raise
    return sweep_result(results[:-1], results[-1], target_delta=target_delta, epochs=epochs)
