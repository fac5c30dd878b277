"""No markup from data, in a real browser: a dataset whose group names (and file name) are Markdown images, links,
autolinks, HTML anchors and Streamlit directives goes through Setup, Run and every page; no link or image from the
data appears, the names are shown as typed, and the browser asks no other server for anything.

Run with `pytest -m e2e tests/test_e2e_hostile.py`; screenshots go to `test-artifacts/`. Skipped without Chromium.
"""
from __future__ import annotations

from urllib.parse import urljoin

import numpy as np
import pandas as pd
import pytest

from auditkit.markup import WORD_JOINER
from tests.e2e_support import (MAIN, browser_page, chromium_available, choose, go_to, open_app, problems, rerun,
                               screenshot, start_app, upload, wait_for_charts, wait_for_summary)

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not chromium_available(), reason="needs Chromium at /usr/bin/chromium")]

BEACON = "http://127.0.0.1:9"  # a port nothing listens on: any request to it is one the data caused
HOSTILE = [f"![beacon]({BEACON}/image.png)", "[click me](javascript:alert(1))", f'<a href="{BEACON}/a">anchor</a>',
           f"<{BEACON}/autolink>", f'<img src="{BEACON}/tag.png">', ":red[alarm] :material/warning:"]
FILE_NAME = "[report](javascript:alert(2)).csv"

# Every link and image in the page, HTML and SVG (Plotly draws chart text as SVG), with where it points.
_LINKS_AND_IMAGES = """() => [...document.querySelectorAll('a, img, image')].map(e => ({
  tag: e.tagName.toLowerCase(), text: (e.textContent || '').trim().slice(0, 80),
  target: e.getAttribute('href') || e.getAttribute('xlink:href') || e.getAttribute('src') || ''}))"""


def hostile_csv(path) -> None:
    """Predictions in the data; 'band' has one big group and small groups named with markup (so they are warned
    about by name on every page)."""
    rng = np.random.default_rng(0)
    n = 1200
    band = np.array(["plain"] * (n - 12 * len(HOSTILE)) + [h for h in HOSTILE for _ in range(12)])
    score = rng.random(n)
    pd.DataFrame({"sex": rng.choice(["woman", "man"], n), "band": band,
                  "label": np.where(rng.random(n) < 0.5, 1, 0), "pred": (score >= 0.5).astype(int),
                  "score": score.round(4)}).to_csv(path, index=False)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e-hostile")
    server = start_app(root / "home", root / "streamlit.log")
    yield server
    server.stop()


def shown(page) -> str:
    """The main area's text as a person reads it (the invisible word joiners `plain` adds left out)."""
    return page.locator(MAIN).inner_text().replace(WORD_JOINER, "")


def foreign(app, found: list[dict]) -> list[dict]:
    """Links and images that point anywhere but this app (its own pages, or data: and blob: URLs it made), and
    images with no address at all."""
    def own(target: str) -> bool:
        return target.startswith(("data:", "blob:")) or urljoin(f"{app.url}/", target).startswith(f"{app.url}/")

    return [f for f in found if not own(f["target"]) or f["tag"] != "a" and not f["target"]]


def test_hostile_group_names_never_become_links_images_or_requests(app, tmp_path):
    data = tmp_path / FILE_NAME
    hostile_csv(data)
    requested: list[str] = []
    with browser_page(tmp_path / "profile") as page:
        page.on("request", lambda request: requested.append(request.url))
        open_app(page, app.url)
        go_to(page, "Setup")
        upload(page, 0, data)
        rerun(page, page.get_by_text("Predictions are in the dataset", exact=True).click)
        choose(page, "Label (what the model predicts)", "label")
        choose(page, "Sensitive attributes", "sex")
        choose(page, "Sensitive attributes", "band")
        choose(page, "Score column (optional)", "score")
        page.get_by_text("The dataset is valid: 1,200 rows").wait_for()
        for name in HOSTILE:  # the small-group warnings name each group as typed
            assert f"group '{name}' of 'band' has only 12 rows" in shown(page), name
        screenshot(page, "50-hostile-setup")
        page.get_by_role("button", name="Run the audit").click()
        wait_for_summary(page)
        assert f"Auditing {FILE_NAME}\n" in shown(page)
        screenshot(page, "51-hostile-run")
        seen = {"Run & summary": page.evaluate(_LINKS_AND_IMAGES)}

        go_to(page, "Fairness")
        choose(page, "Sensitive attribute or intersection", "band")
        wait_for_charts(page)
        for name in HOSTILE:
            assert f"group '{name}' has 12 rows" in shown(page), name
        ticks = page.evaluate("() => [...document.querySelectorAll('.xtick text')].map(t => t.textContent)")
        assert set(HOSTILE) <= set(ticks), ticks  # chart labels show the names as typed
        seen["Fairness"] = page.evaluate(_LINKS_AND_IMAGES)
        screenshot(page, "52-hostile-fairness")
        for title in ("Privacy", "Report", "History"):
            go_to(page, title)
            seen[title] = page.evaluate(_LINKS_AND_IMAGES)
            screenshot(page, f"53-hostile-{title.lower()}")
            assert not problems(page), (title, problems(page))

    bad = {title: foreign(app, found) for title, found in seen.items() if foreign(app, found)}
    assert not bad, bad
    assert not any("javascript:" in f["target"] for found in seen.values() for f in found)
    assert not [url for url in requested if not url.startswith((app.url, "data:", "blob:"))]
