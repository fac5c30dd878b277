"""Access fails closed: with sign-in configured an engine call without a signed-in user is refused; every engine
entry point checks the role itself (not only the service); pages call only the checked entry points; report
downloads are logged with the signed-in user; a page can reach only the Ray clusters an administrator allows."""
from __future__ import annotations

import ast
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest

from auditkit.access import (LOCAL_USER, RAY_ADDRESSES_ENV, Principal, acting_as, check_ray_address,
                             current_principal, require_sign_in)
from auditkit.audit import run_audit
from auditkit.config import Settings
from auditkit.data.spec import AuditSpec
from auditkit.engine_registry import EngineSetting
from auditkit.errors import AccessDenied
from auditkit.jobs import BackgroundJob
from auditkit.scale.cluster import ensure_ray
from auditkit.service import audit_and_record, record_audit, sign_off, upload
from auditkit.store import AuditStore
from auditkit.uploads import store_upload
from tests.builders import tabular_frame

ROOT = Path(__file__).resolve().parents[1]
AUDIT = {"inputs": {"data_sha256": "d" * 64, "rows": 10}, "predictions": {"accuracy": 0.8}}
ANALYST = Principal("ann@example.org", frozenset({"analyst"}), authenticated=True)
REVIEWER = Principal("rob@example.org", frozenset({"reviewer"}), authenticated=True)
SPEC = AuditSpec(target="y", sensitive=("sex",), prediction_column="pred")
NO_USER = ("this AuditKit server requires sign-in, and this call was made without a signed-in user (outside a page, "
           "or from a thread the page did not start): sign in and use the dashboard, or run it from the command line "
           "on the server")


@pytest.fixture()
def settings(workspace):
    return replace(Settings(), home=workspace)


@pytest.fixture()
def store(settings):
    return AuditStore(settings=settings)


@pytest.fixture()
def data(tmp_path):
    frame = tabular_frame(120)
    frame["pred"] = (frame.x1 > 0).astype(int)
    path = tmp_path / "preds.csv"
    frame.to_csv(path, index=False)
    return path


def in_fresh_thread(call):
    """`call()` on a new thread, which starts with an empty context (no principal); its result or exception."""
    out: dict = {}

    def run():
        try:
            out["result"] = call()
        except Exception as e:  # handed back to the test
            out["error"] = e

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    return out


def test_with_sign_in_every_entry_point_refuses_a_call_without_a_user(store, data, settings, workspace):
    audit_id = store.record_audit(AUDIT, "loans")  # recorded in local mode, before sign-in is on
    events = len(store.events())
    require_sign_in()
    calls = {
        "service.upload": lambda: upload(b"a,b\n1,2\n", "d.csv", settings=settings),
        "service.audit_and_record": lambda: audit_and_record(data, SPEC, settings=settings, store=store),
        "service.record_audit": lambda: record_audit(store, AUDIT, "x"),
        "service.sign_off": lambda: sign_off(store, audit_id, "approve", reviewer="Dana"),
        "store_upload": lambda: store_upload(b"a,b\n1,2\n", "d.csv", settings=settings),
        "run_audit": lambda: run_audit(data, SPEC, settings=settings),
        "AuditStore.create_audit": lambda: store.create_audit("x"),
        "AuditStore.complete_audit": lambda: store.complete_audit(audit_id, AUDIT),
        "AuditStore.record_audit": lambda: store.record_audit(AUDIT, "x"),
        "AuditStore.sign_off": lambda: store.sign_off(audit_id, "Dana", "approve"),
    }
    for name, call in calls.items():
        out = in_fresh_thread(call)
        assert isinstance(out.get("error"), AccessDenied) and str(out["error"]) == NO_USER, name
    assert [r.id for r in store.list()] == [audit_id] and store.get(audit_id).signoffs == ()
    assert len(store.events()) == events
    assert not (workspace / "uploads").exists() or not any((workspace / "uploads").iterdir())
    with acting_as(ANALYST):  # the same calls inside a signed-in session work for the role
        assert record_audit(store, AUDIT, "by ann")
    with acting_as(REVIEWER):
        assert sign_off(store, audit_id, "approve").reviewer == "rob@example.org"


def test_in_local_mode_a_thread_without_a_principal_is_the_local_user(store):
    out = in_fresh_thread(lambda: (current_principal(), store.record_audit(AUDIT, "from a thread")))
    assert out["result"][0] == LOCAL_USER
    assert store.get(out["result"][1]).name == "from a thread"


def test_a_background_job_acts_as_whoever_started_it(store):
    require_sign_in()
    with acting_as(ANALYST):
        job = BackgroundJob("record", lambda progress: store.record_audit(AUDIT, "job", actor="ann@example.org"))
    assert job.wait(60) and job.error is None and job.exception is None
    assert store.get(job.result).name == "job"


def test_the_store_itself_refuses_the_wrong_role(store, data, settings, workspace):
    audit_id = store.record_audit(AUDIT, "loans")
    with acting_as(ANALYST), pytest.raises(AccessDenied, match="ann@example.org is analyst and cannot sign audits off"):
        store.sign_off(audit_id, "ann@example.org", "approve")
    with acting_as(REVIEWER):
        for call in (lambda: store.record_audit(AUDIT, "x"), lambda: store.create_audit("x"),
                     lambda: store.complete_audit(audit_id, AUDIT), lambda: run_audit(data, SPEC, settings=settings),
                     lambda: store_upload(b"a,b\n", "d.csv", settings=settings)):
            with pytest.raises(AccessDenied, match="rob@example.org is reviewer and cannot"):
                call()
    assert [r.id for r in store.list()] == [audit_id] and store.get(audit_id).signoffs == ()
    assert not (workspace / "uploads").exists() or not any((workspace / "uploads").iterdir())


UNCHECKED = {"store_upload", "run_audit", "record_audit", "sign_off", "create_audit", "complete_audit", "recording"}


def test_pages_call_only_the_checked_entry_points():
    """The checked service functions are imported from auditkit.service; nothing reaches the store's or the
    engine's own write functions directly (their checks would still refuse, but the service names the user)."""
    for path in [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "dashboard").glob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module != "auditkit.service":
                assert not UNCHECKED & {a.name for a in node.names}, f"{path.name} imports from {node.module}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in UNCHECKED, f"{path.name}:{node.lineno} calls .{node.func.attr}()"


AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s" * 40, "client_id": "auditkit",
        "client_secret": "secret", "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration"}


def test_a_report_download_is_logged_with_the_signed_in_user(workspace, monkeypatch):
    audit_id = AuditStore().record_audit(AUDIT, "loans")
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "roles.yaml").write_text("users:\n  ann@example.org: analyst\n", encoding="utf-8")
    downloads: dict[str, object] = {}
    real = DeltaGenerator.download_button

    def keep(self, label, data, *args, **kwargs):  # AppTest has no file server: keep what a click would run
        downloads[label] = data
        return real(self, label, b"", *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", keep)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": True, "email": "ann@example.org"}
    at.session_state["audit"] = AUDIT
    at.session_state["audit_id"] = audit_id
    at.run()
    at.switch_page("pages/report.py").run()
    assert not at.exception
    out = in_fresh_thread(downloads["HTML report"])  # Streamlit runs it on a thread of its own, with no principal
    assert out.get("result", b"").startswith(b"<!DOCTYPE html>"), out
    [event] = [e for e in AuditStore().events(audit_id) if e.kind == "report.exported"]
    assert event.actor == "ann@example.org" and event.detail["format"] == "html"


def test_a_page_may_use_only_the_ray_clusters_the_administrator_allows(monkeypatch, data, settings):
    monkeypatch.setenv(RAY_ADDRESSES_ENV, "ray://ray-a:10001, ray-b:6379")
    monkeypatch.setitem(sys.modules, "ray", None)  # so a check that passes ends at the missing package
    check_ray_address("ray://anywhere:10001")  # the command line (no page) may name any cluster
    with acting_as(LOCAL_USER, page=True):
        check_ray_address(None)  # a local cluster on the server
        check_ray_address("ray-b:6379")
        with acting_as(ANALYST):  # a block nested in a page session is still one
            with pytest.raises(AccessDenied) as err:
                check_ray_address("ray://evil.example:10001")
        assert str(err.value) == ("the Ray cluster 'ray://evil.example:10001' is not one this server's administrator "
                                  "allows (allowed: ray://ray-a:10001, ray-b:6379); choose one of those, or ask the "
                                  "administrator to add it to AUDITKIT_RAY_ADDRESSES")
        with pytest.raises(AccessDenied, match="'ray://evil.example:10001' is not one"):
            ensure_ray("ray://evil.example:10001")
        with pytest.raises(AccessDenied, match="'evil:6379' is not one"):
            run_audit(data, SPEC, settings=settings, engine=EngineSetting("ray", address="evil:6379"))


def test_private_training_and_the_sweep_check_the_role_themselves():
    from auditkit.privacy.sweep import privacy_utility_sweep
    from auditkit.privacy.training import dp_train
    from auditkit.tabular import TabularMLP

    x, y = np.zeros((40, 2), np.float32), np.arange(40) % 2
    train = lambda: dp_train(TabularMLP(2, hidden=(4,)), x, y, target_epsilon=1.0, target_delta=1e-3, epochs=1,  # noqa: E731
                             batch_size=8, baseline=False)
    sweep = lambda: privacy_utility_sweep(TabularMLP(2, hidden=(4,)), x, y, targets=[1.0], target_delta=1e-3,  # noqa: E731
                                          epochs=1, batch_size=8)
    with acting_as(REVIEWER):
        for call in (train, sweep):
            with pytest.raises(AccessDenied, match="rob@example.org is reviewer and cannot run audits"):
                call()
    require_sign_in()
    for call in (train, sweep):
        out = in_fresh_thread(call)
        assert isinstance(out.get("error"), AccessDenied) and str(out["error"]) == NO_USER
    with acting_as(ANALYST):
        assert train().epsilon <= 1.0 + 1e-6
