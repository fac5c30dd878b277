"""The web app with sign-in configured: login screen, no-access screen, and controls shown by role (AppTest)."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from auditkit.markup import plain
from auditkit.store import AuditStore

APP = str(Path(__file__).resolve().parents[1] / "app.py")
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s" * 40, "client_id": "auditkit",
        "client_secret": "secret", "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration"}
AUDIT = {"inputs": {"data_file": "loans.csv", "data_sha256": "a" * 64, "rows": 200,
                    "columns": {"target": "approved", "sensitive": ["sex"]}},
         "predictions": {"accuracy": 0.75, "positive_rate": 0.4, "rows": 200},
         "fairness": {"sex": {"by_group": {}, "demographic_parity_difference": 0.2}}}


def _app(user: dict | None, workspace: Path, page: str | None = None, **state) -> AppTest:
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "roles.yaml").write_text("users:\n  ann@example.org: analyst\n  rob@example.org: reviewer\n",
                                          encoding="utf-8")
    at = AppTest.from_file(APP, default_timeout=60)
    if user is not None:
        at.secrets["auth"] = AUTH
        at.user = user
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def _infos(at: AppTest) -> str:
    return " ".join(i.value for i in at.info)


def test_auth_configured_and_nobody_signed_in_shows_only_the_login(workspace):
    at = _app({"is_logged_in": False}, workspace)
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert "needs you to sign in" in _infos(at)
    assert [t.value for t in at.title] == ["AuditKit"]
    assert "Try the built-in demo" not in [s.value for s in at.subheader]
    with pytest.raises(ValueError, match=r"Known pages: \['Sign in'\]"):  # no other page is registered
        at.switch_page("pages/report.py")


def test_signed_in_user_not_in_the_roles_file_is_told_why(workspace):
    at = _app({"is_logged_in": True, "email": "eve@example.org"}, workspace)
    assert not at.exception
    assert any(plain("eve@example.org has no role in this AuditKit workspace") in e.value for e in at.error)
    assert [b.label for b in at.button] == ["Sign out"]


def test_local_mode_without_auth(workspace):
    at = _app(None, workspace)
    assert not at.exception
    assert "Local mode: you are the analyst and reviewer" in [c.value for c in at.sidebar.caption]


def test_reviewer_sees_no_upload_controls(workspace):
    at = _app({"is_logged_in": True, "email": "Rob@Example.org", "name": "Rob"}, workspace, "pages/setup.py")
    assert not at.exception
    assert f"Signed in as **{plain('Rob@Example.org')}** (reviewer)" in [c.value for c in at.sidebar.caption]
    assert not at.get("file_uploader")
    assert "Uploading data and models is for users with the analyst role" in _infos(at)


def test_analyst_sees_upload_controls(workspace):
    at = _app({"is_logged_in": True, "email": "ann@example.org"}, workspace, "pages/setup.py")
    assert not at.exception
    assert len(at.get("file_uploader")) == 2


def _stored_report(email: str, workspace: Path) -> AppTest:
    """The Report page of an audit already in the store, for the signed-in `email`."""
    audit_id = AuditStore().record_audit(AUDIT, "loans")
    return _app({"is_logged_in": True, "email": email}, workspace, "pages/report.py", audit=AUDIT,
                audit_id=audit_id)


def test_reviewer_gets_the_sign_off_form_without_a_name_field(workspace):
    at = _stored_report("rob@example.org", workspace)
    assert not at.exception
    assert not at.text_input  # no name to type: the signed-in identity is recorded
    assert f"Signing as {plain('rob@example.org')}." in [c.value for c in at.caption]
    assert "Record sign-off" in [b.label for b in at.button]
    assert "Record this audit in the store" not in [b.label for b in at.button]


def test_analyst_gets_no_sign_off_form(workspace):
    at = _stored_report("ann@example.org", workspace)
    assert not at.exception
    assert "Record sign-off" not in [b.label for b in at.button]
    assert "Signing audits off is for users with the reviewer role" in _infos(at)


def test_reviewer_cannot_record_an_unstored_audit(workspace):
    at = _app({"is_logged_in": True, "email": "rob@example.org"}, workspace, "pages/report.py", audit=AUDIT)
    assert not at.exception
    assert "Record this audit in the store" not in [b.label for b in at.button]
    assert "Recording audits is for users with the analyst role" in _infos(at)
    assert AuditStore().list() == []


PAGES = sorted(p.relative_to(Path(APP).parent).as_posix() for p in (Path(APP).parent / "pages").glob("[!_]*.py"))


@pytest.mark.parametrize("page", PAGES)
def test_a_first_request_for_a_page_file_is_rerun_through_the_sign_in(workspace, page):
    AuditStore().record_audit(AUDIT, "confidential")
    at = AppTest.from_file(APP, default_timeout=60)
    at.secrets["auth"] = AUTH
    at.user = {"is_logged_in": False}
    at.switch_page(page).run()  # Streamlit would run the page file without app.py
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert not at.dataframe and [t.value for t in at.title] == ["AuditKit"]
