"""The dashboard in a real browser: Debian's Chromium driven by Playwright against `streamlit run app.py`.

Run with `pytest -m e2e tests/test_e2e_browser.py -s` (the timings are printed). Screenshots of every page go to
`test-artifacts/`. Skipped when /usr/bin/chromium is absent.
"""
from __future__ import annotations

import pickle
import re
import time

import numpy as np
import pytest

from auditkit.config import Settings
from auditkit.demo import demo_audit
from auditkit.hashing import sha256_file
from auditkit.store import AuditStore
from tests.builders import tabular_frame, tabular_model
from tests.e2e_support import (ERROR_BOX, INFO_BOX, PLOTLY, browser_page, chromium_available, choose, click_tab,
                               go_to, metric_value, move_chart_slider, nav_titles, open_app, open_demo, problems, rerun,
                               screenshot, start_app, upload, wait_for_charts, wait_for_summary)

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not chromium_available(), reason="needs Chromium at /usr/bin/chromium")]

UPLOAD_LIMIT_MB = 3  # small, so the browser test can send a file over the limit (the demo's data is 1.6 MB)
# Panels that draw at least one chart on their first view of a tabular audit.
CHART_PAGES = {"Fairness", "Explanations", "Energy"}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """One dashboard server for the module, with its own workspace."""
    root = tmp_path_factory.mktemp("e2e")
    server = start_app(root / "home", root / "streamlit.log", env={"AUDITKIT_MAX_FILE_MB": str(UPLOAD_LIMIT_MB)})
    yield server
    server.stop()


@pytest.fixture
def page(app, tmp_path, request):
    """A fresh browser profile (so a fresh Streamlit session) on the home page; the last screen is kept."""
    with browser_page(tmp_path / "profile") as page:
        open_app(page, app.url)
        yield page
        screenshot(page, f"last-{request.node.name}")


def assert_clean(page, where: str) -> None:
    """No exception element and no error box: findings are badges, error boxes mean the tool hit a problem."""
    found = problems(page)
    assert not found, f"{where}: {found}"


def test_demo_tour_every_page_charts_slider_download(app, page, tmp_path):
    timings: dict[str, float] = {}
    requested: list[str] = []  # every URL the browser asks for, from a fresh load of the home page on
    page.on("request", lambda request: requested.append(request.url))
    page.reload()
    open_app(page, app.url)
    assert_clean(page, "home")
    screenshot(page, "01-home")

    open_demo(page, "lending")
    finished = time.perf_counter()
    assert metric_value(page, "Rows audited") == "20,000"
    assert_clean(page, "run & summary")

    titles = nav_titles(page)
    assert titles[:3] == ["Home", "Setup", "Run & summary"]
    panels = [t for t in titles if t not in ("Home", "Setup", "Run & summary")]
    assert "Fairness" in panels

    go_to(page, panels[0])
    wait_for_charts(page)
    timings["first panel after the audit"] = time.perf_counter() - finished
    screenshot(page, "02-run-summary-then-" + panels[0].lower())

    # Every page is visited (and photographed) before any assertion, so one run reports every broken page.
    charts: dict[str, int] = {}
    broken: dict[str, list[str]] = {}
    for i, title in enumerate(["Run & summary", *panels], start=3):
        go_to(page, title)
        charts[title] = wait_for_charts(page)
        if found := problems(page):
            broken[title] = found
        assert page.locator("h1").first.is_visible()
        screenshot(page, f"{i:02d}-{title.split()[0].lower()}")
    for title in CHART_PAGES & set(panels):
        if charts[title] == 0:
            broken.setdefault(title, []).append("no chart drawn")

    # Switching between pages whose results are cached: what a person feels when browsing the panels.
    switches = []
    for title in ["Fairness", "Energy", "Fairness", "Run & summary", "Fairness"]:
        seconds = go_to(page, title)
        wait_for_charts(page)
        switches.append(seconds)
    timings["page switch (median of 5)"] = float(np.median(switches))
    assert_clean(page, "fairness revisited")

    if click_tab(page, "Threshold"):
        wait_for_charts(page)
        moves = []
        for fraction in (0.6, 0.3, 0.8):
            before, after, seconds = move_chart_slider(page, fraction, "Groups at threshold")
            moves.append(seconds)
            assert float(after) == pytest.approx(fraction, abs=0.02) and after != before
        timings["slider move (median of 3)"] = float(np.median(moves))
        # The tables behind a chart are drawn when their expander is opened.
        rerun(page, page.get_by_text("Data behind the chart").first.click)
        assert page.locator('[data-testid="stDataFrame"]').filter(visible=True).count() == 2
        assert_clean(page, "fairness threshold")
        screenshot(page, "20-fairness-threshold")

    # A cohort clicked in the error analysis filters every panel until "Show all rows".
    go_to(page, "Fairness")
    assert click_tab(page, "Error analysis")
    wait_for_charts(page)
    bar = page.locator(f"{PLOTLY} .bars .point path").first
    rerun(page, lambda: bar.click(force=True))
    banner = page.locator(INFO_BOX).filter(has_text="Filtered to the cohort")
    assert banner.count() == 1 and " of 20,000 rows" in banner.first.inner_text()
    screenshot(page, "22-fairness-cohort")
    go_to(page, "Explanations")
    assert page.locator(INFO_BOX).filter(has_text="Filtered to the cohort").count() == 1
    rerun(page, page.get_by_role("button", name="Show all rows").click)
    assert page.locator(INFO_BOX).filter(has_text="Filtered to the cohort").count() == 0
    assert_clean(page, "cohort filter")

    if "Report" in panels:
        go_to(page, "Report")
        buttons = page.locator('[data-testid="stDownloadButton"] button')
        assert buttons.count() > 0, "the Report page offers no download"
        html = buttons.filter(has_text="HTML")
        button = html.first if html.count() else buttons.first
        with page.expect_download(timeout=120_000) as info:
            button.click()
        download = info.value
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        data_path, _, _ = demo_audit("lending", Settings(home=app.home))
        data_sha = sha256_file(data_path)
        assert saved.name.startswith(f"audit-{data_sha[:12]}")
        if saved.suffix == ".html":
            text = saved.read_text(encoding="utf-8")
            assert "<html" in text.lower() and data_sha in text
        exports = [e.detail for e in AuditStore(settings=Settings(home=app.home)).events()
                   if e.kind == "report.exported"]
        assert exports == [{"format": saved.suffix.lstrip("."), "via": "dashboard"}]  # the trail logs the download
        assert_clean(page, "report after download")
        screenshot(page, "21-report-after-download")

    print("\nbrowser timings on the lending demo (20,000 rows):")
    for name, seconds in timings.items():
        print(f"  {name:32s} {seconds * 1000:8.0f} ms")
    print(f"  charts drawn per page: {charts}")
    log = re.sub(r"\x1b\[[0-9;]*m", "", app.log())[-3000:]
    assert not broken, f"pages showing an error: {broken}\nserver log tail:\n{log}"
    # Works offline and tells nobody else what is audited: nothing is fetched from another server (fonts and icons
    # included), and a visit does not fetch the Report's files (they are made when a download is clicked).
    reports = [url for url in requested if "/media/" in url and url.rsplit(".", 1)[-1] in ("html", "pdf", "json", "md")]
    assert len(reports) <= 1, reports  # the HTML report downloaded above
    assert not {url for url in requested if not url.startswith((app.url, "data:", "blob:"))}


def test_upload_csv_and_checkpoint_then_audit(app, page, tmp_path):
    data = tmp_path / "loans.csv"
    tabular_frame().to_csv(data, index=False)
    model = tabular_model(tmp_path / "model.pt2")

    go_to(page, "Setup")
    upload(page, 0, data)
    assert_clean(page, "setup with a dataset")
    upload(page, 1, model)
    choose(page, "Label (what the model predicts)", "y")
    choose(page, "Sensitive attributes", "sex")
    page.get_by_text("The dataset is valid: 400 rows").wait_for()
    assert page.get_by_text("Model loaded safely in its own contained process: pt2, tabular").count() == 1
    assert_clean(page, "setup with roles")
    screenshot(page, "30-setup-uploaded")

    page.get_by_role("button", name="Run the audit").click()
    wait_for_summary(page)
    assert metric_value(page, "Rows audited") == "400"
    # The builders' model decides x1 + 0.5 x2 > 0, which is exactly how the label was made.
    assert metric_value(page, "Accuracy") == "100.0%"
    assert_clean(page, "run of the uploaded audit")
    screenshot(page, "31-run-uploaded")

    # A private model trained on this audit belongs to it: the lending demo, opened next in the same session,
    # shows its own untrained form and offers no weights.
    weights = page.get_by_role("button", name="Download model weights (safetensors)")
    go_to(page, "Privacy")
    click_tab(page, "Train privately")
    rerun(page, page.get_by_role("button", name="Train at this epsilon").click)
    weights.wait_for(timeout=180_000)
    assert_clean(page, "private model of the uploaded audit")
    screenshot(page, "32-privacy-trained-uploaded")
    go_to(page, "Home")
    open_demo(page, "lending")
    go_to(page, "Privacy")
    click_tab(page, "Train privately")
    page.get_by_role("button", name="Train at this epsilon").wait_for()
    assert weights.count() == 0
    assert_clean(page, "privacy of the next audit")
    screenshot(page, "33-privacy-next-audit")


def test_bad_uploads_show_a_clear_message_and_the_app_keeps_working(app, page, tmp_path):
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    one_class = tmp_path / "one_class.csv"
    tabular_frame().assign(y=1).to_csv(one_class, index=False)
    model = tabular_model(tmp_path / "model.pt2")

    go_to(page, "Setup")
    upload(page, 0, garbage)
    error = page.locator(ERROR_BOX)
    error.first.wait_for()
    assert "Problem:" in error.first.inner_text()
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "40-setup-garbage-csv")

    upload(page, 0, one_class)  # replaces the garbage file, as picking another file would
    upload(page, 1, model)
    choose(page, "Label (what the model predicts)", "y")
    choose(page, "Sensitive attributes", "sex")
    message = page.locator(ERROR_BOX).filter(has_text="only one class")
    message.first.wait_for()
    assert "Fix:" in message.first.inner_text()
    assert page.get_by_role("button", name="Run the audit").count() == 0
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "41-setup-one-class")

    big = tmp_path / "big.csv"
    tabular_frame(80_000).to_csv(big, index=False)  # about 4 MB
    upload(page, 0, big)
    message = page.locator(ERROR_BOX).filter(has_text=f"over the {UPLOAD_LIMIT_MB} MB limit")
    message.first.wait_for()
    assert "Fix:" in message.first.inner_text()
    screenshot(page, "42-setup-over-the-limit")

    notes = tmp_path / "notes.txt"
    notes.write_text("not a dataset", encoding="utf-8")
    upload(page, 0, notes)  # the uploader itself refuses the type; the file never reaches the app
    page.get_by_text("text/plain files are not allowed").first.wait_for()
    assert page.locator('[data-testid="stException"]').count() == 0

    pickled = tmp_path / "model.joblib"
    pickled.write_bytes(pickle.dumps({"weights": [1.0]}))
    upload(page, 1, pickled)  # any checkpoint reaches the engine, which says why it refuses it and what to do
    message = page.locator(ERROR_BOX).filter(has_text="is a joblib pickle")
    message.first.wait_for()
    assert "model.joblib" in message.first.inner_text()  # the user's file name, not the stored copy's hash
    way_out = page.locator(INFO_BOX).filter(has_text="Checkpoints AuditKit accepts").first.inner_text()
    assert "Predictions are in the dataset" in way_out and "torch.export.save" in way_out
    assert page.locator('[data-testid="stException"]').count() == 0
    screenshot(page, "43-setup-refused-checkpoint")

    go_to(page, "Home")
    page.get_by_role("button", name="Open the lending demo").wait_for()
    assert_clean(page, "home after bad uploads")
