"""Audit store: records, artifacts, sign-offs, the hash chain and tampering."""
from __future__ import annotations

import sqlite3
import stat
from dataclasses import replace

import pytest

from auditkit.config import Settings
from auditkit.store import SCHEMA_VERSION, AuditStore, StoreError

AUDIT = {
    "inputs": {"data_sha256": "d" * 64, "model_sha256": "m" * 64, "rows": 10,
               "columns": {"target": "y", "sensitive": ["sex"]}},
    "predictions": {"accuracy": 0.8, "positive_rate": 0.3},
    "fairness": {"sex": {"by_group": {"F": {"count": 5}}, "demographic_parity_difference": 0.12}},
}


@pytest.fixture()
def store(tmp_path):
    return AuditStore(settings=replace(Settings(), home=tmp_path))


def _db(store: AuditStore) -> sqlite3.Connection:
    return sqlite3.connect(store.engine.url.database)


def test_pending_then_done_round_trip(store, tmp_path):
    assert store.url == f"sqlite:///{tmp_path / 'auditkit.db'}"
    audit_id = store.create_audit("loan model v3", data_sha256="d" * 64)
    rec = store.get(audit_id)
    assert (rec.status, rec.name, rec.audit, rec.data_sha256) == ("pending", "loan model v3", None, "d" * 64)
    store.complete_audit(audit_id, AUDIT)
    rec = store.get(audit_id)
    assert rec.status == "done"
    assert rec.audit == AUDIT
    assert rec.model_sha256 == "m" * 64
    assert rec.columns == {"target": "y", "sensitive": ["sex"]}
    with pytest.raises(StoreError, match="already done"):
        store.complete_audit(audit_id, AUDIT)
    with pytest.raises(StoreError, match="no audit with id"):
        store.get("nope")
    with _db(store) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with store.engine.connect() as conn:  # every store connection: synchronous=FULL (2), busy_timeout 30 s
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_fail_and_list_filters(store):
    a = store.record_audit(AUDIT, "alpha")
    b = store.create_audit("beta")
    store.fail_audit(b, "model file was refused")
    c = store.create_audit("gamma 100%_done")
    assert [r.id for r in store.list()] == [c, b, a]
    assert [r.id for r in store.list(status="failed")] == [b]
    assert store.get(b).error == "model file was refused"
    assert [r.id for r in store.list(name_contains="100%_")] == [c]
    assert [r.id for r in store.list(name_contains="%")] == [c]
    assert [r.id for r in store.list(data_sha256="d" * 64)] == [a]
    assert [r.id for r in store.list(limit=1)] == [c]
    created_b = store.get(b).created
    assert [r.id for r in store.list(since=created_b)] == [c, b]


def test_signoff_rules_and_trail(store):
    audit_id = store.record_audit(AUDIT, "x")
    s = store.sign_off(audit_id, "  Dana Reviewer ", "reject", "DPD over limit")
    assert (s.reviewer, s.decision, s.comment) == ("Dana Reviewer", "reject", "DPD over limit")
    assert store.get(audit_id).signoffs == (s,)
    second = store.sign_off(audit_id, "Lee", "approve")
    assert store.signoffs(audit_id) == store.get(audit_id).signoffs == (s, second)
    assert store.signoffs(store.record_audit(AUDIT, "y")) == ()
    with pytest.raises(StoreError, match="approve' or 'reject"):
        store.sign_off(audit_id, "Dana", "maybe")
    with pytest.raises(StoreError, match="reviewer's name"):
        store.sign_off(audit_id, "  ", "approve")
    pending = store.create_audit("p")
    with pytest.raises(StoreError, match="only finished audits"):
        store.sign_off(pending, "Dana", "approve")
    store.log_event("report.exported", audit_id=audit_id, detail={"format": "html"})
    kinds = [e.kind for e in store.events(audit_id)]
    assert kinds == ["audit.created", "audit.completed", "signoff", "signoff", "report.exported"]
    events = store.events()
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(e.prev_hash == p.hash for p, e in zip(events, events[1:]))
    assert store.verify_chain().ok


def test_artifacts_stored_once_read_only(store, tmp_path):
    audit_id = store.record_audit(AUDIT)
    src = tmp_path / "upload.csv"
    src.write_bytes(b"a,b\n1,2\n" * 1000)
    sha1 = store.put_artifact(src, audit_id=audit_id, kind="data", name="upload.csv")
    sha2 = store.put_artifact(src.read_bytes(), audit_id=audit_id, kind="data", name="upload.csv")
    with open(src, "rb") as f:
        sha3 = store.put_artifact(f)
    assert sha1 == sha2 == sha3
    path = store.artifact_path(sha1)
    assert path == tmp_path / "artifacts" / sha1[:2] / sha1
    assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert store.read_artifact(sha1) == src.read_bytes()
    assert [p for p in (tmp_path / "artifacts").rglob("*") if p.is_file()] == [path]
    assert len(store.get(audit_id).artifacts) == 1
    assert [e.kind for e in store.events(audit_id)].count("artifact.stored") == 1
    report = store.startup_check(deep=True)
    assert report.ok and report.orphan_blobs == () and report.missing_blobs == ()


def test_startup_check_finds_orphan_missing_and_damaged_blobs(store):
    kept = store.put_artifact(b"kept")
    gone = store.put_artifact(b"gone")
    store.artifact_path(gone).unlink()
    staged = store.blobs.stage(b"orphan")
    store.blobs.commit(staged)
    damaged = store.artifact_path(kept)
    damaged.chmod(0o644)
    damaged.write_bytes(b"kepT")
    report = store.startup_check(deep=True)
    assert report.missing_blobs == (gone,)
    assert report.orphan_blobs == (staged.sha256,)
    assert report.damaged_blobs == (kept,)
    assert not report.ok
    with pytest.raises(StoreError, match="damaged"):
        store.read_artifact(kept)


def test_pending_run_of_a_live_process_is_left_alone(store):
    audit_id = store.create_audit("running now")
    (store.blobs.tmp).mkdir(parents=True, exist_ok=True)
    mine = store.blobs.stage(b"in progress")
    report = store.startup_check()
    assert report.failed_runs == () and report.temp_files_removed == 0
    assert store.get(audit_id).status == "pending"
    assert mine.temp.exists()


def test_verify_names_altered_event(store):
    a = store.record_audit(AUDIT, "first")
    store.sign_off(a, "Ann", "approve", "fine")
    store.record_audit(AUDIT, "second")
    assert store.verify_chain().ok
    with _db(store) as db:
        db.execute("UPDATE events SET actor = 'mallory' WHERE seq = 3")
    check = store.verify_chain()
    assert not check.ok
    assert (check.first_bad, check.first_bad_seq) == ("event #3", 3)
    assert "altered" in check.reason
    ok, first_bad = check
    assert (ok, first_bad) == (False, "event #3")


def test_store_from_newer_version_is_refused(store, tmp_path):
    with _db(store) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, written by a newer AuditKit"):
        AuditStore(settings=replace(Settings(), home=tmp_path))


def test_url_from_environment(tmp_path, monkeypatch):
    other = tmp_path / "elsewhere" / "k.db"
    monkeypatch.setenv("AUDITKIT_DB_URL", f"sqlite:///{other}")
    s = AuditStore(settings=replace(Settings(), home=tmp_path))
    s.record_audit(AUDIT)
    assert other.exists() and not (tmp_path / "auditkit.db").exists()
    with pytest.raises(StoreError, match="not a database URL"):
        AuditStore("::nope::", settings=replace(Settings(), home=tmp_path))


def test_non_json_result_is_refused_without_a_trace(store):
    audit_id = store.create_audit("x")
    with pytest.raises(StoreError, match="cannot be stored as JSON"):
        store.complete_audit(audit_id, {"predictions": {"model": object()}})
    assert store.get(audit_id).status == "pending"
    assert [e.kind for e in store.events(audit_id)] == ["audit.created"]


def test_runs_from_other_machines_fail_only_when_stale(store, monkeypatch):
    monkeypatch.setattr("auditkit.store.store.runner_id", lambda: "another-host:1")
    fresh = store.create_audit("running elsewhere")
    monkeypatch.setattr("auditkit.store.store.now", lambda: "2020-01-01T00:00:00.000000+00:00")
    old = store.create_audit("abandoned elsewhere")
    monkeypatch.undo()
    assert store.verify_chain().ok
    report = store.startup_check()
    assert report.failed_runs == (old,)
    assert store.get(fresh).status == "pending"
    assert "still pending after 24 hours" in store.get(old).error
    assert store.verify_chain().ok


def test_recording_context_completes_or_fails(store):
    with store.recording("ok run", data_sha256="d" * 64) as ok:
        store.complete_audit(ok, AUDIT)
    assert store.get(ok).status == "done"
    with pytest.raises(ValueError, match="label has 3 classes"):
        with store.recording("bad run") as bad:
            raise ValueError("label has 3 classes")
    assert (store.get(bad).status, store.get(bad).error) == ("failed", "ValueError: label has 3 classes")
    with store.recording("forgotten") as forgotten:
        pass
    assert store.get(forgotten).error == "the run ended without results"
    assert store.verify_chain().ok


def test_backup_is_a_consistent_copy(store, tmp_path, monkeypatch):
    a = store.record_audit(AUDIT, "a")
    copy = store.backup(tmp_path / "backups" / "store.db")
    elsewhere = replace(Settings(), home=tmp_path / "other")
    with pytest.raises(StoreError, match="trail key of the audit store at .*store.db is missing"):
        AuditStore(f"sqlite:///{copy}", settings=elsewhere)  # the key is not in the database: back it up too
    assert not (tmp_path / "other" / "trail.key").exists()
    monkeypatch.setenv("AUDITKIT_TRAIL_KEY", (tmp_path / "trail.key").read_text())
    other = AuditStore(f"sqlite:///{copy}", settings=elsewhere)
    assert other.get(a).audit == AUDIT and other.verify_chain().ok
    assert other.verify_chain().head == store.verify_chain().head
    with pytest.raises(StoreError, match="already exists"):
        store.backup(copy)
