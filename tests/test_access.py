"""Roles enforced by the engine: who may run audits and sign them off; the roles file; local mode."""
from __future__ import annotations

from dataclasses import replace

import pytest

from auditkit.access import (LOCAL_USER, Principal, acting_as, current_principal, load_roles, parse_roles,
                             principal_for, require, roles_file)
from auditkit.config import Settings
from auditkit.data.spec import AuditSpec
from auditkit.errors import AccessDenied, AuditkitError, SettingsError
from auditkit.service import audit_and_record, record_audit, sign_off, upload
from auditkit.store import AuditStore
from tests.builders import tabular_frame

AUDIT = {"inputs": {"data_sha256": "d" * 64, "rows": 10}, "predictions": {"accuracy": 0.8}}
ANALYST = Principal("ann@example.org", frozenset({"analyst"}), authenticated=True)
REVIEWER = Principal("rob@example.org", frozenset({"reviewer"}), authenticated=True)
STRANGER = Principal("eve@example.org", frozenset(), authenticated=True)


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


SPEC = AuditSpec(target="y", sensitive=("sex",), prediction_column="pred")


def test_role_table():
    assert [LOCAL_USER.can(a) for a in ("view", "upload", "run", "sign_off")] == [True] * 4
    assert [ANALYST.can(a) for a in ("view", "upload", "run", "sign_off")] == [True, True, True, False]
    assert [REVIEWER.can(a) for a in ("view", "upload", "run", "sign_off")] == [True, False, False, True]
    admin = Principal("root@example.org", frozenset({"admin"}), authenticated=True)
    assert all(admin.can(a) for a in ("view", "upload", "run", "sign_off"))
    assert not any(STRANGER.can(a) for a in ("view", "upload", "run", "sign_off"))


def test_reviewer_cannot_run_and_nothing_is_stored(store, data, settings):
    with pytest.raises(AccessDenied) as err:
        audit_and_record(data, SPEC, principal=REVIEWER, settings=settings, store=store)
    assert str(err.value) == ("rob@example.org is reviewer and cannot run audits: this needs the role admin or "
                              "analyst; ask an administrator to change the roles file (roles.yaml in the workspace)")
    assert isinstance(err.value, AuditkitError)
    assert store.list() == [] and store.events() == []


def test_reviewer_cannot_upload_and_nothing_is_written(settings, workspace):
    with pytest.raises(AccessDenied, match="rob@example.org is reviewer and cannot upload data or models"):
        upload(b"a,b\n1,2\n", "d.csv", settings=settings, principal=REVIEWER)
    assert not (workspace / "uploads").exists() or not any((workspace / "uploads").iterdir())
    stored = upload(b"a,b\n1,2\n", "d.csv", settings=settings, principal=ANALYST)
    assert stored.parent == workspace / "uploads" and stored.read_bytes() == b"a,b\n1,2\n"


def test_reviewer_cannot_record_an_audit(store):
    with pytest.raises(AccessDenied, match="rob@example.org is reviewer and cannot run audits"):
        record_audit(store, AUDIT, "x", principal=REVIEWER)
    assert store.list() == []


def test_analyst_cannot_sign_off_and_nothing_is_stored(store):
    audit_id = store.record_audit(AUDIT, "loans")
    events = len(store.events())
    with pytest.raises(AccessDenied) as err:
        sign_off(store, audit_id, "approve", "looks fine", principal=ANALYST)
    assert str(err.value) == ("ann@example.org is analyst and cannot sign audits off: this needs the role admin or "
                              "reviewer; ask an administrator to change the roles file (roles.yaml in the workspace)")
    assert store.get(audit_id).signoffs == ()
    assert len(store.events()) == events


def test_unknown_user_has_no_access(store):
    audit_id = store.record_audit(AUDIT, "loans")
    with pytest.raises(AccessDenied) as err:
        sign_off(store, audit_id, "approve", principal=STRANGER)
    assert str(err.value) == ("eve@example.org has no role in this AuditKit workspace, so cannot sign audits off: "
                              "ask an administrator to add them to the roles file (roles.yaml in the workspace) "
                              "as admin or reviewer")
    assert store.get(audit_id).signoffs == ()


def test_signed_in_reviewer_signs_as_themselves(store):
    audit_id = store.record_audit(AUDIT, "loans")
    s = sign_off(store, audit_id, "reject", "DPD too high", principal=REVIEWER)
    assert (s.reviewer, s.decision, s.comment) == ("rob@example.org", "reject", "DPD too high")
    assert store.events(audit_id)[-1].actor == "rob@example.org"
    with pytest.raises(AccessDenied, match="can sign off only as themselves, not as 'Dana'"):
        sign_off(store, audit_id, "approve", principal=REVIEWER, reviewer="Dana")
    assert len(store.get(audit_id).signoffs) == 1


def test_local_mode_runs_and_signs_off(store, data, settings):
    assert current_principal() == LOCAL_USER
    run = audit_and_record(data, SPEC, settings=settings, store=store, name="local")
    rec = store.get(run.audit_id)
    assert rec.status == "done" and rec.audit["inputs"]["rows"] == 120
    assert {e.actor for e in store.events(run.audit_id)} == {"local user"}
    s = sign_off(store, run.audit_id, "approve", reviewer="Dana Local")
    assert s.reviewer == "Dana Local"
    assert store.verify_chain().ok


def test_acting_as_sets_the_principal_of_engine_calls(store):
    audit_id = store.record_audit(AUDIT, "loans")
    with acting_as(ANALYST):
        assert current_principal() == ANALYST
        with pytest.raises(AccessDenied, match="ann@example.org is analyst and cannot sign audits off"):
            sign_off(store, audit_id, "approve")
        assert record_audit(store, AUDIT, "by ann")
    with acting_as(REVIEWER):
        assert sign_off(store, audit_id, "approve").reviewer == "rob@example.org"
    assert current_principal() == LOCAL_USER
    assert [r.name for r in store.list()].count("by ann") == 1


def test_roles_file_maps_emails_case_insensitively(settings, workspace):
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "roles.yaml").write_text(
        "users:\n  Ann@Example.org: analyst\n  rob@example.org: [reviewer]\n  root@example.org: admin\n"
        "  both@example.org: [analyst, reviewer]\n", encoding="utf-8")
    assert roles_file(settings) == workspace / "roles.yaml"
    assert principal_for("ann@example.ORG", settings=settings) == Principal("ann@example.ORG", frozenset({"analyst"}),
                                                                           authenticated=True)
    assert principal_for("rob@example.org", settings=settings).roles == {"reviewer"}
    assert principal_for("both@example.org", settings=settings).roles == {"analyst", "reviewer"}
    assert principal_for("root@example.org", settings=settings).can("sign_off")
    nobody = principal_for("eve@example.org", settings=settings)
    assert nobody.roles == frozenset()
    with pytest.raises(AccessDenied, match="eve@example.org has no role in this AuditKit workspace, so cannot view"):
        require(nobody, "view")


def test_roles_file_from_the_environment(settings, tmp_path, monkeypatch):
    path = tmp_path / "elsewhere.yaml"
    path.write_text("users: {rob@example.org: reviewer}\n", encoding="utf-8")
    monkeypatch.setenv("AUDITKIT_ROLES_FILE", str(path))
    assert load_roles(settings) == {"rob@example.org": frozenset({"reviewer"})}


def test_no_roles_file_means_no_access_when_signed_in(settings):
    assert load_roles(settings) == {}
    with pytest.raises(AccessDenied, match="has no role"):
        require(principal_for("ann@example.org", settings=settings), "run")


def test_sign_in_without_an_email_is_refused():
    with pytest.raises(AccessDenied, match="did not provide an e-mail address"):
        principal_for("  ", roles={})


@pytest.mark.parametrize("text, message", [
    ("users: {ann@example.org: superuser}\n", "ann@example.org has the unknown role(s) superuser"),
    ("- ann@example.org\n", "must be a mapping with one key, 'users'"),
    ("users: {ann@example.org: analyst}\ngroups: {}\n", "must be a mapping with one key, 'users'"),
    ("users: {ann@example.org: {role: analyst}}\n", "the entry 'ann@example.org' must map an e-mail address"),
    ("users: !!python/object/apply:os.system ['touch canary']\n", "YAML tag not allowed"),
    ("users: [unclosed\n", "is not valid YAML"),
])
def test_bad_roles_files_are_refused_naming_the_problem(text, message, tmp_path):
    with pytest.raises(SettingsError) as err:
        parse_roles(text, source="roles.yaml")
    assert message in str(err.value)
    assert not (tmp_path / "canary").exists()


def test_the_data_file_is_hashed_once_per_recorded_audit(store, data, settings, monkeypatch):
    import auditkit.prepare
    import auditkit.service
    from auditkit.hashing import sha256_source

    calls = []

    def counted(source):
        calls.append(source)
        return sha256_source(source)

    monkeypatch.setattr(auditkit.service, "sha256_source", counted)
    monkeypatch.setattr(auditkit.prepare, "sha256_source", counted)
    run = audit_and_record(data, SPEC, settings=settings, store=store)
    assert calls == [data]
    assert store.get(run.audit_id).data_sha256 == run.audit["inputs"]["data_sha256"] == sha256_source(data)
