"""Overhead of measuring energy: a CPU-bound workload timed with and without EnergyMeter.

    OMP_NUM_THREADS=1 python bench/energy.py [--seconds 2] [--repeats 5] [--interval 0.2]

Prints, per repeat: the workload's wall time and process CPU time without and with the meter, and the time
the meter itself spent polling its sources (% of the phase); then the ratios of the fastest runs and of the
medians. On a shared machine wall time swings with other users' load; process CPU time (which includes the
sampler thread) and the polling share are the steadier measures. Goal: at most 2 % of run time.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from auditkit.energy.meter import EnergyMeter  # noqa: E402


def workload(iterations: int) -> float:
    """CPU-bound: repeated float32 matmuls (what batched tabular inference looks like)."""
    a = torch.randn(256, 256)
    acc = 0.0
    for _ in range(iterations):
        acc += float((a @ a).sum())
    return acc


def calibrate(seconds: float) -> int:
    n, t = 10, 0.0
    while t < 0.2:
        n *= 2
        start = time.perf_counter()
        workload(n)
        t = time.perf_counter() - start
    return max(1, int(n * seconds / t))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2.0, help="Target workload length per run.")
    ap.add_argument("--repeats", type=int, default=5, help="Runs with and without the meter (alternating).")
    ap.add_argument("--interval", type=float, default=0.2, help="Sampling interval of the meter's thread (s).")
    args = ap.parse_args()
    torch.set_num_threads(1)
    iterations = calibrate(args.seconds)
    meter = EnergyMeter(sample_interval_s=args.interval)
    sources = ", ".join(f"{s.component}:{s.method}" for s in meter.sources)
    print(f"sources: {sources}; workload: {iterations} matmuls of 256x256; interval {args.interval} s")
    print(f"{'run':>4} {'wall off (s)':>12} {'wall on (s)':>12} {'cpu off (s)':>12} {'cpu on (s)':>11} "
          f"{'polling %':>10} {'samples':>8}")
    rows = []
    for i in range(args.repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        workload(iterations)
        wall_off, cpu_off = time.perf_counter() - w0, time.process_time() - c0
        before = meter.report()
        w0, c0 = time.perf_counter(), time.process_time()
        with meter.phase("inference", predictions=iterations):
            workload(iterations)
        wall_on, cpu_on = time.perf_counter() - w0, time.process_time() - c0
        rep = meter.report()
        poll = (rep.overhead_seconds - before.overhead_seconds) / wall_on * 100
        rows.append((wall_off, wall_on, cpu_off, cpu_on, poll))
        print(f"{i:>4} {wall_off:>12.3f} {wall_on:>12.3f} {cpu_off:>12.3f} {cpu_on:>11.3f} {poll:>10.3f} "
              f"{rep.samples - before.samples:>8}")
    cols = list(zip(*rows))
    print(f"{'':>4} {'ratio on/off':>12} {'fastest':>10} {'median':>10}")
    for name, off, on in (("wall", cols[0], cols[1]), ("cpu", cols[2], cols[3])):
        print(f"{name:>4} {'':>12} {min(on) / min(off):>10.4f} {statistics.median(on) / statistics.median(off):>10.4f}")
    print(f"polling share of the run (median): {statistics.median(cols[4]):.3f} %  (goal: overhead <= 2 %)")
    meter.close()


if __name__ == "__main__":
    main()
