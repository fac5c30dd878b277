"""Fairness engine vs fairlearn's MetricFrame: 1,000,000 rows, two attributes (4 and 5 groups) and their
20-group intersection, every group metric and disparity. Prints both times, the ratio and the largest difference.

    python bench/fairness.py [--rows N] [--repeats R]
"""
from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn.metrics as skm
from fairlearn import metrics as flm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auditkit.fairness import assess  # noqa: E402
from auditkit.fairness.threshold_chart import threshold_explorer  # noqa: E402
from auditkit.fairness.thresholds import threshold_sweep  # noqa: E402


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    sf = pd.DataFrame({"age_band": rng.choice(["18-29", "30-44", "45-59", "60+"], n),
                       "region": rng.choice(["north", "south", "east", "west", "centre"], n)})
    score = rng.random(n)
    y_true = np.where(rng.random(n) < 0.2 + 0.6 * score, "1", "0")
    y_pred = np.where(score + 0.05 * (sf["age_band"] == "60+").to_numpy() >= 0.5, "1", "0")
    return y_true, y_pred, sf, score


def metricframe_all(y_true, y_pred, sf: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The same numbers with MetricFrame: one frame per attribute and for the intersection."""
    pos = "1"
    metrics = {
        "count": flm.count,
        "selection_rate": functools.partial(flm.selection_rate, pos_label=pos),
        "accuracy": skm.accuracy_score,
        "precision": functools.partial(skm.precision_score, pos_label=pos, zero_division=0),
        "recall": functools.partial(skm.recall_score, pos_label=pos, zero_division=0),
        "false_positive_rate": functools.partial(flm.false_positive_rate, pos_label=pos),
        "false_negative_rate": functools.partial(flm.false_negative_rate, pos_label=pos),
        "balanced_accuracy": skm.balanced_accuracy_score,
    }
    out = {}
    for name, feature in (("age_band", sf["age_band"]), ("region", sf["region"]), ("age_band&region", sf)):
        mf = flm.MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=feature)
        diff, ratio = mf.difference(), mf.ratio()
        by_group = mf.by_group.copy()
        by_group.index = ["&".join(i) if isinstance(i, tuple) else str(i) for i in by_group.index]
        out[name] = (by_group, {
            "demographic_parity_difference": diff["selection_rate"],
            "demographic_parity_ratio": ratio["selection_rate"],
            "equalized_odds_difference": max(diff["recall"], diff["false_positive_rate"]),
            "equalized_odds_ratio": min(ratio["recall"], ratio["false_positive_rate"]),
            "equal_opportunity_difference": diff["recall"],
        })
    return out


def best_of(fn, repeats: int) -> tuple[tuple[float, float], object]:
    """Best (wall seconds, CPU seconds of this process) over `repeats` runs, and the last result."""
    best, result = (float("inf"), float("inf")), None
    for _ in range(repeats):
        w0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        best = min(best, (time.perf_counter() - w0, time.process_time() - c0))
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    y_true, y_pred, sf, score = make_data(args.rows)

    t_fast, report = best_of(lambda: assess(y_true, y_pred, sf, n_boot=0), args.repeats)
    t_boot, _ = best_of(lambda: assess(y_true, y_pred, sf, n_boot=1000), args.repeats)
    t_score, _ = best_of(lambda: assess(y_true, y_pred, sf, score, n_boot=1000), args.repeats)
    t_sweep, sweep = best_of(lambda: threshold_sweep(y_true, score, sf, thresholds=np.linspace(0, 1, 101)),
                             args.repeats)
    t_explorer, _ = best_of(lambda: threshold_explorer(sweep, "age_band&region"), args.repeats)
    t_mf, reference = best_of(lambda: metricframe_all(y_true, y_pred, sf), 1)

    worst = 0.0
    for name, (by_group, disp) in reference.items():
        ours = report[name].by_group()
        worst = max(worst, float(np.max(np.abs(ours.loc[by_group.index, by_group.columns].to_numpy(float)
                                                  - by_group.to_numpy(float)))))
        worst = max(worst, max(abs(report[name].disparities[k] - v) for k, v in disp.items()))

    print(f"rows: {args.rows:,}; groupings: age_band (4), region (5), age_band&region (20); "
          f"8 group metrics + 5 disparities each")
    print("wall = elapsed seconds, cpu = CPU seconds of this process (steadier on a shared machine); "
          "ours are the best of --repeats runs")
    print(f"{'what':62s} {'wall s':>9s} {'cpu s':>9s} {'wall ratio':>11s} {'cpu ratio':>10s}")
    rows = [
        ("MetricFrame (fairlearn), 3 frames x 8 metrics", t_mf),
        ("assess: counts -> all metrics and disparities, no bootstrap", t_fast),
        ("assess + 1,000 bootstrap replicates (95% CIs)", t_boot),
        ("assess + bootstrap + ROC AUC and calibration from scores", t_score),
        ("threshold sweep: 101 thresholds x all metrics and disparities", t_sweep),
        ("threshold explorer figure, 101 slider steps, 20 groups", t_explorer),
    ]
    for what, (wall, cpu) in rows:
        print(f"{what:62s} {wall:9.3f} {cpu:9.3f} {t_mf[0] / wall:10.0f}x {t_mf[1] / cpu:9.0f}x")
    print(f"largest |difference| to MetricFrame over every group metric and disparity: {worst:.2e}")


if __name__ == "__main__":
    main()
