"""The built-in engines: in memory, streamed in chunks, and on a Ray cluster.

Each is registered here (`auditkit.engine_registry`); their work is imported only when they run, so reading the
list (`--help`, the Setup page) stays light.
"""
from __future__ import annotations

from pathlib import Path

from auditkit.engine_registry import DEFAULT_CHUNK_ROWS, AuditJob, EngineRun, engine_for, register, registered
from auditkit.errors import AuditkitError, SettingsError

__all__ = ["engine_for", "registered"]


class MemoryEngine:
    """The whole dataset in memory on this machine; every section sees every row."""

    name = "memory"
    description = "this machine, in memory (most files)"
    options: tuple[str, ...] = ()

    def check(self, job: AuditJob) -> None:
        return None

    def run(self, job: AuditJob) -> EngineRun:
        from auditkit.prepare import prepare
        from auditkit.summary import predictions_section

        ctx = prepare(job.data, job.spec, model=job.model, name=job.name, settings=job.settings, device=job.device,
                      batch_size=job.batch_size, progress=job.progress, data_sha256=job.data_sha256)
        return EngineRun(ctx, predictions_section(ctx), 0 if ctx.cached or ctx.model is None else len(ctx.y_pred))


class StreamEngine:
    """The file read in chunks on this machine, in bounded memory; the other sections see a seeded sample."""

    name = "stream"
    description = "this machine, streamed in chunks in bounded memory (large CSV/Parquet files or folders)"
    options: tuple[str, ...] = ("chunk_rows",)

    def check(self, job: AuditJob) -> None:
        if not isinstance(job.data, (str, Path)):
            raise AuditkitError(f"the {self.name} engine reads the dataset from a path. Fix: give the file or "
                                "folder path (--data), or use the memory engine.")
        if (job.setting.chunk_rows or DEFAULT_CHUNK_ROWS) < 1:
            raise SettingsError(f"chunk_rows must be at least 1 (got {job.setting.chunk_rows}). "
                                "Fix: pass a positive number of rows (--chunk-rows).")

    def run(self, job: AuditJob) -> EngineRun:
        from auditkit.scale.engine import count_stream, run_chunked

        return run_chunked(job, count_stream, engine=self.name)


class RayEngine(StreamEngine):
    """Ray Data batch inference and counting on a Ray cluster; each Ray worker loads the model from its path."""

    name = "ray"
    description = "Ray Data batch inference and counting on a Ray cluster (needs requirements-ray.txt)"
    options = ("chunk_rows", "workers", "address")

    def check(self, job: AuditJob) -> None:
        super().check(job)
        if job.model is not None and job.model_path is None:
            raise AuditkitError("the Ray engine loads the model in each worker from its checkpoint. Fix: pass the "
                                "checkpoint path (--model), not a loaded model.")

    def run(self, job: AuditJob) -> EngineRun:
        from auditkit.scale.engine import run_chunked
        from auditkit.scale.inference import count_job

        return run_chunked(job, count_job, engine=self.name)


register(MemoryEngine())
register(StreamEngine())
register(RayEngine())
