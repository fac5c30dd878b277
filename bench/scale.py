"""Predictions-only audits of 1M and 10M rows: in-memory engine vs local streaming vs Ray (2 workers) on this machine.

Each run is a whole `run_audit` (hashing the file, reading, counting, the fairness report with its bootstrap and
the driver-sample sections) in a fresh subprocess, so peak memory is per engine: the process's peak RSS, and for
Ray the peak of the summed RSS of the driver and every Ray process it started (sampled every 0.1 s; shared
object-store pages may be counted more than once). Ray's start-up is timed apart. Prints rows/s, peak memory,
ratios against the in-memory engine, and whether the fairness section is identical to it.

    python bench/scale.py [--rows 1000000 10000000] [--engines memory stream ray] [--chunk-rows N] [--keep DIR]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ENGINES = ("memory", "stream", "ray")
_GROUP = 1_000_000


def make_log(path: Path, rows: int, seed: int = 0) -> None:
    """A decision log written a million rows at a time: label, biased prediction, two sensitive attributes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, rows, _GROUP):
        n = min(_GROUP, rows - start)
        sex = rng.choice(np.array(["female", "male"]), n)
        age = rng.choice(np.array(["18-29", "30-44", "45-59", "60+"]), n)
        y = (rng.random(n) < 0.4).astype(np.int64)
        flip = rng.random(n) < np.where(sex == "female", 0.25, 0.1)
        pred = np.where(flip, 1 - y, y)
        table = pa.table({"sex": sex, "age_band": age, "y": y, "pred": pred})
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table, row_group_size=_GROUP)
    writer.close()


class PeakTreeRss:
    """Samples the summed RSS of this process and all its descendants; `peak` in bytes."""

    def __init__(self, interval: float = 0.1) -> None:
        import psutil

        self._me, self._interval, self.peak = psutil.Process(), interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for p in [self._me, *self._me.children(recursive=True)]:
                try:
                    total += p.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(self._interval)

    def __enter__(self) -> "PeakTreeRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_one(engine: str, data: Path, chunk_rows: int) -> dict:
    """One audit in this process; returns seconds, peak memory and a digest of the fairness section."""
    from auditkit.audit import run_audit
    from auditkit.data.spec import AuditSpec
    from auditkit.engine_registry import EngineSetting

    spec = AuditSpec(target="y", sensitive=("sex", "age_band"), prediction_column="pred")
    startup = 0.0
    if engine == "ray":
        from auditkit.scale.cluster import ensure_ray

        t = time.perf_counter()
        ensure_ray(num_cpus=2)
        startup = time.perf_counter() - t
    setting = {"memory": EngineSetting(), "stream": EngineSetting("stream", chunk_rows=chunk_rows),
               "ray": EngineSetting("ray", workers=2, chunk_rows=chunk_rows)}[engine]
    with PeakTreeRss() as tree:
        start = time.perf_counter()
        audit, _ = run_audit(data, spec, engine=setting)
        seconds = time.perf_counter() - start
    digest = hashlib.sha256(json.dumps(audit["fairness"], sort_keys=True).encode()).hexdigest()
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    counting = audit.get("scale", {}).get("seconds")
    return {"engine": engine, "rows": audit["predictions"]["rows"], "seconds": seconds, "startup": startup,
            "counting": counting,
            "peak_mb": max(own_peak, tree.peak) / 2**20, "fairness_sha256": digest}


def measure(engine: str, data: Path, chunk_rows: int, home: Path) -> dict:
    """`run_one` in a fresh Python process (its own peak RSS, its own Ray cluster)."""
    env = {**os.environ, "AUDITKIT_HOME": str(home), "OMP_NUM_THREADS": "1", "RAY_DATA_DISABLE_PROGRESS_BARS": "1",
           "AUDITKIT_MAX_FILE_MB": "4096"}
    out = subprocess.run([sys.executable, __file__, "--one", engine, "--data", str(data), "--chunk-rows", str(chunk_rows)],
                         env=env, capture_output=True, text=True, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{engine} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", choices=ENGINES, default=list(ENGINES))
    parser.add_argument("--chunk-rows", type=int, default=1_000_000)
    parser.add_argument("--keep", help="write the generated data here instead of a temporary folder")
    parser.add_argument("--one", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one, Path(args.data), args.chunk_rows)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        header = (f"{'rows':>11} {'engine':>7} {'seconds':>8} {'rows/s':>11} {'counting s':>10} {'peak MB':>8} "
                  f"{'speed x':>8} {'memory x':>9} {'same fairness':>13}")
        print(header)
        for rows in args.rows:
            data = folder / f"log-{rows}.parquet"
            if not data.exists():
                make_log(data, rows)
            results = [measure(engine, data, args.chunk_rows, folder / "home") for engine in args.engines]
            base = results[0]
            for r in results:
                note = f"  (Ray start-up {r['startup']:.1f} s, not included)" if r["engine"] == "ray" else ""
                counting = "-" if r["counting"] is None else f"{r['counting']:.2f}"
                print(f"{r['rows']:>11,} {r['engine']:>7} {r['seconds']:>8.2f} {r['rows'] / r['seconds']:>11,.0f} "
                      f"{counting:>10} {r['peak_mb']:>8.0f} {base['seconds'] / r['seconds']:>8.2f} {r['peak_mb'] / base['peak_mb']:>9.2f} "
                      f"{str(r['fairness_sha256'] == base['fairness_sha256']):>13}{note}")
        print(f"speed x and memory x are against the first engine ({args.engines[0]}); chunks of {args.chunk_rows:,} rows; "
              "counting s: reading and counting every row, before the driver-sample sections.")


if __name__ == "__main__":
    main()
