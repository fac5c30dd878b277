"""Every page renders without an exception, with and without an audit in the session."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from auditkit.audit import run_audit
from auditkit.data.spec import AuditSpec

from tests.builders import tabular_frame, tabular_model

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))


@pytest.fixture(scope="module")
def tabular_audit(tmp_path_factory):
    import os

    tmp = tmp_path_factory.mktemp("audit")
    os.environ["AUDITKIT_HOME"] = str(tmp / "home")
    data = tmp / "d.csv"
    tabular_frame().to_csv(data, index=False)
    return run_audit(data, AuditSpec(target="y", sensitive=("sex", "race")), model=tabular_model(tmp / "m.pt2"))


def page(path: str) -> AppTest:
    """The app with `path` as the current page (pages run inside st.navigation, as in the browser)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    return at if path == "app.py" else at.switch_page(path)


def errors(at: AppTest) -> list[str]:
    return [e.stack_trace[-1] if e.stack_trace else e.message for e in at.exception]


def test_app_entry_point_renders_home_and_warms_the_panels_up():
    import sys

    from dashboard.shared import PANEL_MODULES, warm_up

    at = page("app.py").run()
    assert not at.exception, errors(at)
    assert at.title[0].value == "AuditKit"
    thread = warm_up()  # the thread the app started (one per process)
    thread.join(120)
    assert not thread.is_alive() and all(m in sys.modules for m in PANEL_MODULES)


def test_pages_folder_holds_only_the_pages_app_py_registers():
    """Streamlit lists every file of pages/ as a page until st.navigation takes over: helpers live in dashboard/."""
    import re

    registered = re.findall(r'st\.Page\("(pages/[^"]+)"', (ROOT / "app.py").read_text(encoding="utf-8"))
    assert sorted(registered) == PAGES
    assert [p.name for p in (ROOT / "pages").iterdir() if p.suffix != ".py" and p.name != "__pycache__"] == []
    assert {p.stem for p in (ROOT / "dashboard").glob("*.py")} >= {"shared", "access", "fairness_results"}


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_without_an_audit(path):
    at = page(path).run()
    assert not at.exception, errors(at)


@pytest.mark.parametrize("path", PAGES)
def test_page_renders_with_an_audit(path, tabular_audit):
    audit, ctx = tabular_audit
    at = page(path)
    at.session_state["audit"] = audit
    at.session_state["audit_context"] = ctx
    at.run()
    assert not at.exception, errors(at)
    assert not [e.value for e in at.error if e.value.startswith("**Problem:**")]


def test_run_page_summarises_the_audit(tabular_audit):
    audit, ctx = tabular_audit
    at = page("pages/run.py")
    at.session_state["audit"] = audit
    at.session_state["audit_context"] = ctx
    at.run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows audited"] == "400"
    assert metrics["Accuracy"] == f"{audit['predictions']['accuracy']:.1%}"


def test_run_page_says_which_panels_were_skipped_or_failed(tabular_audit):
    audit, ctx = tabular_audit
    at = page("pages/run.py")
    from auditkit.markup import plain

    skipped, failed = "no model was loaded", "cannot read the DP record 'p.json'. Fix: pass privacy.json."
    at.session_state["audit"] = {**audit, "explanations": {"skipped": skipped}, "privacy": {"error": failed}}
    at.session_state["audit_context"] = ctx
    at.run()
    assert not at.exception, errors(at)
    assert [i.value for i in at.info] == [f"The explanations panel was not run: {plain(skipped)}"]
    assert [w.value for w in at.warning] == [f"The privacy panel could not run: {plain(failed)}"]


def test_setup_page_asks_for_a_dataset():
    at = page("pages/setup.py").run()
    assert "Upload a dataset" in at.info[0].value


def test_tab_icon_is_a_local_png_check_mark_on_the_blue_disc():
    from io import BytesIO

    from PIL import Image

    from dashboard.shared import favicon

    icon = Image.open(BytesIO(favicon()))
    assert (icon.format, icon.size, icon.mode) == ("PNG", (64, 64), "RGBA")
    assert icon.getpixel((0, 0))[3] == 0  # transparent outside the disc
    assert icon.getpixel((32, 8)) == (0, 114, 178, 255)  # the blue disc
    assert icon.getpixel((28, 45)) == (255, 255, 255, 255)  # the check mark's corner
