"""The engine chosen in the app (in memory, streamed, Ray) reaches the audit, and panels of a chunked audit show
the numbers over every row."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from auditkit.audit import run_audit
from auditkit.data.spec import AuditSpec
from auditkit.markup import plain
from dashboard.shared import PendingAudit
from tests.test_scale_engine import logged_frame

APP = str(Path(__file__).resolve().parents[1] / "app.py")
SPEC = AuditSpec(target="y", sensitive=("sex",), prediction_column="pred", score_column="score")


def test_a_streamed_audit_from_the_run_page_shows_every_rows_fairness(tmp_path):
    data = tmp_path / "log.csv"
    logged_frame().to_csv(data, index=False)
    at = AppTest.from_file(APP, default_timeout=180).switch_page("pages/run.py")
    at.session_state["pending_audit"] = PendingAudit(str(data), "log.csv", SPEC, engine="stream")
    at.run()
    assert not at.exception
    audit = at.session_state["audit"]
    assert audit["scale"]["engine"] == "stream" and audit["scale"]["chunked"]
    assert audit["fairness"] == run_audit(data, SPEC)[0]["fairness"]  # the in-memory numbers

    at.switch_page("pages/fairness.py").run()
    assert not at.exception
    assert any("read 3,000 rows in chunks" in c.value and "sample of 2,000 rows" in c.value for c in at.caption)
    shown = {m.label: m.value for m in at.metric}["Demographic parity difference"]
    assert shown == f"{audit['fairness']['sex']['demographic_parity_difference']:.3f}"


def test_the_ray_engine_without_ray_installed_or_reachable_is_a_clear_problem(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as on the base install, which does not pull Ray in
    data = tmp_path / "log.csv"
    logged_frame(300).to_csv(data, index=False)
    at = AppTest.from_file(APP, default_timeout=120).switch_page("pages/run.py")
    at.session_state["pending_audit"] = PendingAudit(str(data), "log.csv", SPEC, engine="ray")
    at.run()
    assert not at.exception
    assert any("**Problem:**" in e.value and plain("requirements-ray.txt") in e.value for e in at.error)


def test_engines_are_a_registry_read_by_the_cli_and_options_belong_to_an_engine(tmp_path):
    from auditkit.engine_registry import EngineSetting
    from auditkit.engines import registered
    from auditkit.errors import SettingsError

    assert list(registered()) == ["memory", "stream", "ray"]
    data = tmp_path / "log.csv"
    logged_frame(200).to_csv(data, index=False)
    with pytest.raises(SettingsError, match="the memory engine has no option chunk_rows"):
        run_audit(data, SPEC, engine=EngineSetting("memory", chunk_rows=10))
    with pytest.raises(SettingsError, match="the stream engine has no option workers"):
        run_audit(data, SPEC, engine=EngineSetting("stream", workers=2))
