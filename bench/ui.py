"""Speed a person feels in the browser: the dashboard driven by headless Chromium (Playwright).

    python -m bench.ui [--rows 1000000] [--switches 6] [--moves 5] [--skip-large | --skip-demo]

Starts `streamlit run app.py` on a free port with a fresh workspace, then measures, in a real browser:
  * the lending demo (20,000 rows, model audit): time from the audit finishing to the first panel drawn,
    page switch between cached pages, and a move of the fairness threshold slider;
  * a predictions-only audit of `--rows` rows (label, prediction, score, two sensitive attributes) uploaded through
    the Setup page: the audit itself, the first panel, page switch and slider.
Switches and slider moves are timed in the page's own clock, from the click reaching the page to the new page (its
charts included) or the redrawn chart. Prints a table with the goals (first panel 5 s, switch and slider 300 ms)
and the large/demo ratios.
Needs /usr/bin/chromium.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tests.e2e_support import (browser_page, chromium_available, choose, click_tab, go_to, metric_value,
                               move_chart_slider, open_app, open_demo, problems, rerun, screenshot, start_app, upload,
                               wait_for_charts, wait_for_summary)

PAGE_TIMEOUT_MS = 300_000
SWITCHED = ("Run & summary", "Fairness")  # switched between alternately; Fairness is the heaviest page
GOALS = {"audit (click to summary)": None, "first panel after the audit": 5.0,
         **{f"switch to {title} (median)": 0.3 for title in SWITCHED}, "slider move (median)": 0.3}


def predictions_csv(path: Path, rows: int, seed: int = 0) -> Path:
    """A predictions-only dataset: label, prediction, score and two sensitive attributes, with a group gap."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(np.array(["female", "male"]), rows)
    region = rng.choice(np.array(["north", "south", "east", "west"]), rows)
    y = rng.random(rows) < 0.45
    score = np.clip(0.35 * y + 0.45 * rng.random(rows) + 0.1 * (sex == "male"), 0, 1).round(4)
    frame = pd.DataFrame({"y": y.astype(int), "pred": (score >= 0.5).astype(int), "score": score,
                          "sex": sex, "region": region})
    frame.to_csv(path, index=False)
    return path


def browse(page, switches: int, moves: int, out: dict[str, float]) -> None:
    """From a finished audit on the Run page: first panel, page switches, slider moves (seconds, into `out`)."""
    start = time.perf_counter()
    go_to(page, "Fairness", timeout_ms=PAGE_TIMEOUT_MS)
    wait_for_charts(page, timeout_ms=PAGE_TIMEOUT_MS)
    out["first panel after the audit"] = time.perf_counter() - start
    print(f"  first panel: {out['first panel after the audit']:.2f} s", flush=True)
    for title in ("Energy", "Report"):
        seconds = go_to(page, title, timeout_ms=PAGE_TIMEOUT_MS)
        wait_for_charts(page, timeout_ms=PAGE_TIMEOUT_MS)
        print(f"  first visit of {title}: {seconds:.2f} s", flush=True)
    seconds: dict[str, list[float]] = {title: [] for title in SWITCHED}
    for i in range(switches):
        title = SWITCHED[i % 2]
        seconds[title].append(go_to(page, title, timeout_ms=PAGE_TIMEOUT_MS))
        print(f"  switch to {title}: {seconds[title][-1]:.2f} s", flush=True)
    out.update({f"switch to {title} (median)": statistics.median(times) for title, times in seconds.items() if times})
    if click_tab(page, "Threshold"):
        wait_for_charts(page, timeout_ms=PAGE_TIMEOUT_MS)
        seconds = []
        for i in range(moves):
            fraction = (0.3, 0.7)[i % 2] + 0.02 * i  # a different step each time
            seconds.append(move_chart_slider(page, fraction, "Groups at threshold", timeout_ms=PAGE_TIMEOUT_MS)[2])
            print(f"  slider move: {seconds[-1]:.2f} s", flush=True)
        out["slider move (median)"] = statistics.median(seconds)
    if found := [p for p in problems(page) if p.startswith("exception") or "Problem:" in p]:
        print(f"  note: the last page shows {found}")


def measured(name: str, run) -> dict[str, float]:
    """Run one scenario; on a failure keep what was measured and save a screenshot of the page."""
    out: dict[str, float] = {}
    try:
        run(out)
    except Exception as e:  # a timed-out wait is a result here, not a crash
        print(f"  {name}: stopped by {type(e).__name__}: {str(e).splitlines()[0]}")
    return out


def demo_run(url: str, profile: Path, switches: int, moves: int, out: dict[str, float]) -> None:
    with browser_page(profile) as page:
        try:
            open_app(page, url)
            out["audit (click to summary)"] = open_demo(page, "lending")
            browse(page, switches, moves, out)
        finally:
            screenshot(page, "bench-ui-demo-last")


def large_run(url: str, profile: Path, data: Path, switches: int, moves: int, out: dict[str, float]) -> None:
    with browser_page(profile) as page:
        try:
            open_app(page, url)
            go_to(page, "Setup")
            rerun(page, page.get_by_text("Predictions are in the dataset").click)
            upload(page, 0, data)
            choose(page, "Label (what the model predicts)", "y")
            choose(page, "Sensitive attributes", "sex")
            choose(page, "Sensitive attributes", "region")
            # The prediction column defaults to the first remaining column, "pred".
            choose(page, "Score column (optional)", "score")
            page.get_by_role("button", name="Run the audit").wait_for()
            start = time.perf_counter()
            page.get_by_role("button", name="Run the audit").click()
            wait_for_summary(page)
            out["audit (click to summary)"] = time.perf_counter() - start
            print(f"  rows audited: {metric_value(page, 'Rows audited')} in {out['audit (click to summary)']:.1f} s")
            browse(page, switches, moves, out)
        finally:
            screenshot(page, "bench-ui-large-last")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the predictions-only audit")
    parser.add_argument("--switches", type=int, default=6, help="page switches to time")
    parser.add_argument("--moves", type=int, default=5, help="slider moves to time")
    parser.add_argument("--skip-large", action="store_true", help="only the demo")
    parser.add_argument("--skip-demo", action="store_true", help="only the large predictions-only audit")
    args = parser.parse_args(argv)
    if not chromium_available():
        print("needs Chromium at /usr/bin/chromium")
        return 1
    with tempfile.TemporaryDirectory(prefix="auditkit-bench-ui-") as tmp:
        root = Path(tmp)
        server = start_app(root / "home", root / "streamlit.log")
        try:
            results = {}
            if not args.skip_demo:
                print("lending demo (20,000 rows) ...", flush=True)
                results["demo"] = measured("demo", lambda out: demo_run(server.url, root / "p1", args.switches,
                                                                         args.moves, out))
            if not args.skip_large:
                print(f"predictions-only audit ({args.rows:,} rows) ...", flush=True)
                t = time.perf_counter()
                data = predictions_csv(root / "predictions.csv", args.rows)
                print(f"  csv: {data.stat().st_size / 1e6:.0f} MB written in {time.perf_counter() - t:.1f} s")
                results["large"] = measured("large", lambda out: large_run(server.url, root / "p2", data,
                                                                            args.switches, args.moves, out))
        finally:
            server.stop()
    large = f"{args.rows:,} rows"
    print(f"\n{'measure':36s} {'demo 20,000 rows':>17s} {large:>17s} {'goal':>8s} {'large/demo':>11s}")
    for name, goal in GOALS.items():
        demo, big = results.get("demo", {}).get(name), results.get("large", {}).get(name)
        cells = [f"{v * 1000:15.0f}ms" if v is not None else f"{'-':>17s}" for v in (demo, big)]
        ratio = f"{big / demo:10.2f}x" if demo and big else f"{'-':>11s}"
        print(f"{name:36s} {cells[0]} {cells[1]} {f'{goal * 1000:.0f}ms' if goal else '-':>8s} {ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
