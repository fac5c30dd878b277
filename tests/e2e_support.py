"""Drive the dashboard in a real browser: start `streamlit run app.py`, open Debian's Chromium with Playwright.

Used by `tests/test_e2e_browser.py` and `bench/ui.py`. The browser is `/usr/bin/chromium`; Playwright's own
browser downloads are never used.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

APP = '[data-testid="stApp"]'
MAIN = '[data-testid="stMain"]'
NAV_LINK = '[data-testid="stSidebarNavLink"]'
EXCEPTION = '[data-testid="stException"]'
ERROR_BOX = '[data-testid="stAlertContentError"]'
INFO_BOX = '[data-testid="stAlertContentInfo"]'
PLOTLY = '[data-testid="stPlotlyChart"] .js-plotly-plot'
METRIC = '[data-testid="stMetric"]'
FILE_INPUT = '[data-testid="stFileUploaderDropzoneInput"]'
IDLE = f'{APP}[data-test-script-state="notRunning"]'
AUDIT_TIMEOUT_MS = 600_000

# Counts script runs by watching the `data-test-script-state` attribute Streamlit keeps on the app root,
# so a wait can tell "the rerun my click caused has finished" from "no rerun has started yet". It also keeps the
# time of the first pointer or key press since `window.__inputAt` was cleared: timings start when the page gets the
# input, as a person's click would, not when Playwright starts its pre-click checks.
_WATCH_RUNS = """() => {
  if (window.__runs) return;
  window.__runs = {started: 0, finished: 0};
  window.__inputAt = null;
  for (const type of ['pointerdown', 'keydown'])
    window.addEventListener(type, e => { if (window.__inputAt === null) window.__inputAt = e.timeStamp; }, true);
  const root = document.querySelector('[data-testid="stApp"]');
  if (root && root.getAttribute('data-test-script-state') === 'running') window.__runs.started++;
  new MutationObserver(changes => {
    for (const c of changes) {
      const state = c.target.getAttribute('data-test-script-state');
      if (state === 'running') window.__runs.started++;
      else if (state === 'notRunning') window.__runs.finished++;
    }
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['data-test-script-state']});
}"""
_CLEAR_INPUT = "() => { window.__inputAt = null; }"
# Milliseconds since that input in the page's clock (never 0, which means "not done yet"); -1 if no input came.
_SINCE_INPUT = "(window.__inputAt === null ? -1 : Math.max(performance.now() - window.__inputAt, 1e-3))"
_VISIBLE = "const visible = e => e.offsetParent !== null && e.getBoundingClientRect().width > 0;"
# Every visible Plotly chart drawn and shown: Streamlit keeps a chart hidden until it has its container's width.
_CHARTS_DRAWN = f"""() => {{ {_VISIBLE}
  if ([...document.querySelectorAll('[data-testid="stSkeleton"]')].some(visible)) return false;
  return [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(visible).every(c => {{
    const plot = c.querySelector('.js-plotly-plot');
    return plot && plot.querySelector('.main-svg') && getComputedStyle(plot).visibility !== 'hidden'; }});
}}"""
# A run so short that React never paints the "running" state leaves no trace, so after GRACE_MS without a
# started run an idle app counts as done; a page switch is done sooner, as soon as the new page's title and charts
# are drawn. Returns 0 while not done, then the milliseconds since the input in the page's clock (-1 if no input).
GRACE_MS = 2000
_IDLE_AFTER = f"""([before, since, grace, oldTitle]) => {{
  const root = document.querySelector('[data-testid="stApp"]');
  const idle = root && root.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector('[data-testid="stStatusWidgetRunningIcon"]');
  const title = document.querySelector('[data-testid="stMain"] h1');
  const switched = oldTitle !== null && title && title.textContent !== oldTitle
    && !document.querySelector('[data-stale="true"]') && ({_CHARTS_DRAWN})();
  if (!(idle && (window.__runs.started > before || switched || Date.now() - since > grace))) return 0;
  return {_SINCE_INPUT};
}}"""
_TITLE = """() => { const h = document.querySelector('[data-testid="stMain"] h1'); return h ? h.textContent : ''; }"""


def chromium_available() -> bool:
    return CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class AppServer:
    """A `streamlit run app.py` subprocess on 127.0.0.1 with its own AUDITKIT_HOME."""

    process: subprocess.Popen
    url: str
    home: Path
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


def start_app(home: Path, log_path: Path, *, timeout_s: float = 180, env: dict[str, str] | None = None) -> AppServer:
    """Start the dashboard on a free port and wait for its health endpoint to answer `ok`."""
    port = free_port()
    environment = {**os.environ, "AUDITKIT_HOME": str(home), "HF_HUB_OFFLINE": "1",
                   "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **(env or {})}
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=REPO, env=environment, stdout=log, stderr=subprocess.STDOUT)
    server = AppServer(process, f"http://127.0.0.1:{port}", home, log_path)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {process.returncode}:\n{server.log()}")
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=5) as response:
                if response.read().strip() == b"ok":
                    return server
        except OSError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"streamlit did not answer on {server.url} within {timeout_s:.0f} s:\n{server.log()}")


@contextmanager
def browser_page(profile: Path, *, width: int = 1440, height: int = 1000, timeout_ms: int = 120_000) -> Iterator:
    """A Playwright page in headless Chromium with a fresh profile; downloads are accepted."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height}, accept_downloads=True)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            context.close()


def open_app(page, url: str, *, timeout_ms: int = 120_000) -> None:
    """Load the app and wait until its first script run has finished."""
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(f'{APP}[data-test-script-state="notRunning"]', timeout=timeout_ms)
    page.wait_for_selector(NAV_LINK, timeout=timeout_ms)
    page.evaluate(_WATCH_RUNS)


def rerun(page, action: Callable[[], object], *, timeout_ms: int = 120_000, new_page: bool = False) -> float:
    """Do `action` (a click, a key press), wait for the script run it causes to finish; return seconds taken,
    from the moment the page received the click or key (Playwright's own pre-click checks excluded).

    With `new_page`, the action opens another page: done once that page's title is drawn and the app is idle.
    """
    _start_input_clock(page)
    before, since = page.evaluate("() => [window.__runs.started, Date.now()]")
    old_title = page.evaluate(_TITLE) if new_page else None
    start = time.perf_counter()
    action()
    handle = page.wait_for_function(_IDLE_AFTER, arg=[before, since, GRACE_MS, old_title], timeout=timeout_ms,
                                    polling="raf")
    return _seconds(handle, start)


def _start_input_clock(page) -> None:
    """Watch script runs and forget earlier input: the next click or key press starts the clock."""
    page.evaluate(_WATCH_RUNS)
    page.evaluate(_CLEAR_INPUT)


def _seconds(handle, start: float) -> float:
    """Seconds from the input to done in the page's clock; Python's clock from `start` if no input reached it."""
    elapsed_ms = handle.json_value()
    return elapsed_ms / 1000 if elapsed_ms > 0 else time.perf_counter() - start


def nav_titles(page) -> list[str]:
    """The page titles listed in the sidebar navigation, in order."""
    return [_label(t) for t in page.locator(NAV_LINK).all_inner_texts()]


def _label(text: str) -> str:
    """A nav link's text is the Material icon's ligature name, then the title: keep the title."""
    return text.strip().splitlines()[-1].strip()


def go_to(page, title: str, *, timeout_ms: int = 120_000) -> float:
    """Switch page through the sidebar link named `title`; return seconds from the click until the new page has
    rendered, its charts included."""
    index = nav_titles(page).index(title)
    link = page.locator(NAV_LINK).nth(index)
    return rerun(page, link.click, timeout_ms=timeout_ms, new_page=True)


def wait_for_charts(page, *, timeout_ms: int = 60_000) -> int:
    """Wait until every visible Plotly chart has drawn its SVG (none still a loading skeleton); return how many."""
    page.wait_for_function(_CHARTS_DRAWN, timeout=timeout_ms, polling=50)
    return page.evaluate(_CHARTS_COUNT)


_CHARTS_COUNT = f"""() => {{ {_VISIBLE}
  return [...document.querySelectorAll('[data-testid="stPlotlyChart"]')].filter(visible)
    .filter(c => c.querySelector('.js-plotly-plot .main-svg')).length;
}}"""


def problems(page) -> list[str]:
    """Texts of every exception element and error box on the page."""
    found = [f"exception: {t}" for t in page.locator(EXCEPTION).all_inner_texts()]
    found += [f"error box: {t}" for t in page.locator(ERROR_BOX).all_inner_texts()]
    return found


def screenshot(page, name: str, *, max_height: int = 6000) -> Path:
    """Save a PNG of the whole current page (not only the first screen) in test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    viewport = page.viewport_size
    # The app scrolls inside its own container, so grow the window to the content's height for the picture.
    height = page.evaluate("""() => Math.max(...['[data-testid="stMain"]', '[data-testid="stAppViewContainer"]']
        .map(s => document.querySelector(s)).filter(Boolean).map(e => e.scrollHeight))""")
    page.set_viewport_size({"width": viewport["width"], "height": max(viewport["height"], min(height, max_height))})
    try:
        page.wait_for_timeout(300)
        page.screenshot(path=str(path))
    finally:
        page.set_viewport_size(viewport)
    return path


def click_tab(page, label: str) -> bool:
    """Open the tab named `label` if the page has one (waiting for the rerun that draws it); return whether it did."""
    tab = page.locator('[data-testid="stTab"]').filter(has_text=re.compile(rf"^\s*{re.escape(label)}\s*$"))
    if tab.count() == 0:
        return False
    rerun(page, tab.first.click)
    return True


def move_chart_slider(page, fraction: float, echo: str, *, timeout_ms: int = 120_000) -> tuple[str, str, float]:
    """Click the rail of the first Plotly chart slider at `fraction` of its length; wait until the chart has redrawn,
    that is until an annotation reads `echo` followed by the slider's new value.

    Plotly sliders run in the browser (no script rerun). Returns the slider's value before and after, and the
    seconds from the page receiving the click until the redrawn chart shows the new value.
    """
    rail = page.locator(".slider-rail-touch-rect").first
    rail.scroll_into_view_if_needed()
    box = rail.bounding_box()
    before = _slider_value(page)
    _start_input_clock(page)
    start = time.perf_counter()
    page.mouse.click(box["x"] + fraction * box["width"], box["y"] + box["height"] / 2)
    handle = page.wait_for_function(f"""([before, echo]) => {{ {_SLIDER_VALUE}
        const now = value();
        const drawn = now !== before && [...document.querySelectorAll('.annotation-text')]
          .some(e => e.textContent === `${{echo}} ${{now}}`);
        return drawn && {_SINCE_INPUT}; }}""", arg=[before, echo], timeout=timeout_ms, polling="raf")
    return before, _slider_value(page), _seconds(handle, start)


_SLIDER_VALUE = "const value = () => document.querySelector('.slider-container .slider-label').textContent.split(': ').pop();"


def _slider_value(page) -> str:
    """The value shown by the first Plotly chart slider (its current-value text after the prefix)."""
    return page.evaluate(f"() => {{ {_SLIDER_VALUE} return value(); }}")


def wait_for_summary(page, *, timeout_ms: int = AUDIT_TIMEOUT_MS) -> None:
    """Wait until the Run page shows its metric cards (the audit has finished) and the script is idle.

    Fails at once, with what the page says, when an exception or a "Problem:" box (a failed run) appears instead.
    """
    page.wait_for_function(f"""() => document.querySelector('{METRIC}') || document.querySelector('{EXCEPTION}')
        || [...document.querySelectorAll('{ERROR_BOX}')].some(e => e.innerText.includes('Problem:'))""",
                           timeout=timeout_ms, polling=100)
    page.wait_for_selector(IDLE, timeout=timeout_ms)
    if page.locator(METRIC).count() == 0:
        raise AssertionError(f"the audit did not finish: {problems(page)}")


def open_demo(page, short: str, *, timeout_ms: int = AUDIT_TIMEOUT_MS) -> float:
    """Click "Open the <short> demo" on Home and wait for the audit's summary; return seconds taken."""
    start = time.perf_counter()
    page.get_by_role("button", name=f"Open the {short} demo").click()
    wait_for_summary(page, timeout_ms=timeout_ms)
    return time.perf_counter() - start


def metric_value(page, label: str) -> str:
    """The value shown on the metric card labelled `label`."""
    card = page.locator(METRIC).filter(has=page.get_by_text(label, exact=True)).first
    return card.locator('[data-testid="stMetricValue"]').inner_text().strip()


def choose(page, label: str, option: str) -> None:
    """Pick `option` in the selectbox or multiselect labelled `label`."""
    box = page.get_by_role("combobox", name=label, exact=True)
    box.click()
    rerun(page, lambda: page.get_by_role("option", name=option, exact=True).click())
    # Close a multiselect's open list by clicking away (Escape would clear the choice).
    page.locator("h1").first.click()


def upload(page, index: int, path: Path) -> None:
    """Put `path` into the page's `index`-th file-upload widget, as a user's file picker would."""
    page.locator(FILE_INPUT).nth(index).wait_for(state="attached")
    rerun(page, lambda: page.locator(FILE_INPUT).nth(index).set_input_files(str(path)))
