"""A store that cannot work says so in one line (a `StoreError`; the CLI prints `error: ...` and exits 2), and a
failure half-way never leaves an audit recorded as done without its result and trail entry."""
from __future__ import annotations

import errno
import os
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import event

from auditkit.cli import main
from auditkit.config import Settings
from auditkit.store import AuditStore, StoreError, trail

AUDIT = {"inputs": {"data_sha256": "d" * 64}, "predictions": {"accuracy": 0.75}}


def _store(home: Path) -> AuditStore:
    return AuditStore(settings=replace(Settings(), home=home))


def _filled(home: Path) -> Path:
    """A store with 20 signed-off audits, checkpointed into its main file; returns the file."""
    store = _store(home)
    for n in range(20):
        store.sign_off(store.record_audit(AUDIT | {"pad": "x" * 2000}, f"model {n}"), "Ann", "approve", "")
    db = home / "auditkit.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db


def _one_error_line(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "Traceback" not in captured.err
    return captured.err


@pytest.mark.parametrize(("damage", "says"), [
    (lambda raw: os.urandom(len(raw)), "is damaged (file is not a database)"),
    (lambda raw: raw[:len(raw) // 2], "is damaged (database disk image is malformed)"),
    (lambda raw: raw[:1000], "is damaged (database disk image is malformed)"),
    (lambda raw: b"", "is an empty file (0 bytes): it was truncated"),
])
def test_damaged_database_is_one_message(workspace, capsys, damage, says):
    db = _filled(workspace)
    db.write_bytes(damage(db.read_bytes()))
    with pytest.raises(StoreError, match="restore it from a backup") as info:
        _store(workspace)
    assert f"the audit store at {db} {says}" in str(info.value)
    for argv in (["verify"], ["verify", "--startup"], ["history"]):
        assert _one_error_line(capsys, argv) == f"error: {info.value}\n"


def test_disk_full_mid_audit_never_records_it_done(workspace):
    store = _store(workspace)
    before = store.record_audit(AUDIT, "before the disk filled")

    @event.listens_for(store.engine, "connect")
    def full_disk(dbapi_conn, _record):  # no page beyond those the file has now
        dbapi_conn.execute(f"PRAGMA max_page_count = {dbapi_conn.execute('PRAGMA page_count').fetchone()[0]}")

    with pytest.raises(StoreError, match=r"^the disk holding the audit store \(.*auditkit.db\) is full \(database or "
                                         r"disk is full\): nothing was recorded by this step; free some space"):
        with store.recording("large audit") as audit_id:
            store.complete_audit(audit_id, AUDIT | {"explanations": {"values": "y" * 300_000}})
    event.remove(store.engine, "connect", full_disk)
    rec = store.get(audit_id)
    assert (rec.status, rec.audit) == ("failed", None) and "is full" in rec.error
    assert [e.kind for e in store.events(audit_id)] == ["audit.created", "audit.failed"]
    assert store.get(before).status == "done" and store.verify_chain().ok


def test_failure_while_sealing_rolls_the_whole_write_back(workspace, monkeypatch):
    store = _store(workspace)
    audit_id = store.create_audit("sealed last")

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(workspace / "auditkit.db-wal"))

    monkeypatch.setattr(trail, "append", no_space)
    with pytest.raises(StoreError, match="auditkit.db-wal\\) is full \\(No space left on device\\)"):
        store.complete_audit(audit_id, AUDIT)
    monkeypatch.undo()
    rec = store.get(audit_id)
    assert (rec.status, rec.audit) == ("pending", None)  # result row and status rolled back with the entry
    with sqlite3.connect(workspace / "auditkit.db") as db:
        assert db.execute("SELECT count(*) FROM results").fetchone()[0] == 0
    assert store.verify_chain().ok


@pytest.mark.parametrize(("code", "says"), [
    (errno.ENOSPC, "is full (No space left on device): nothing was recorded"),
    (errno.EROFS, "is read-only (Read-only file system): make the workspace ($AUDITKIT_HOME) writable"),
])
def test_artifact_folder_full_or_read_only_stores_nothing(workspace, monkeypatch, code, says):
    store = _store(workspace)
    audit_id = store.record_audit(AUDIT, "a")
    events = len(store.events())

    def refuse(path, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr("auditkit.store.blobs.open", refuse, raising=False)
    with pytest.raises(StoreError) as info:
        store.put_artifact(b"<html>report</html>", audit_id=audit_id, kind="report.html")
    subject = "the disk holding the audit store" if code == errno.ENOSPC else "the audit store"
    assert str(info.value).startswith(f"{subject} ({workspace / 'artifacts' / 'tmp'}")
    assert says in str(info.value)
    monkeypatch.undo()
    assert store.get(audit_id).artifacts == () and len(store.events()) == events
    assert list((workspace / "artifacts" / "tmp").iterdir()) == []
    assert store.verify_chain().ok


def test_read_only_store_is_verified_and_listed_but_not_written(workspace, capsys):
    store = _store(workspace)
    audit_id = store.record_audit(AUDIT, "archived")
    url = f"sqlite:///file:{workspace / 'auditkit.db'}?mode=ro&uri=true"
    ro = AuditStore(url, create=False)
    assert ro.verify_chain().ok and [r.id for r in ro.list()] == [audit_id]
    with pytest.raises(StoreError, match=rf"^the audit store \({workspace / 'auditkit.db'}\) is read-only \(attempt "
                                         r"to write a readonly database\): make the workspace"):
        ro.sign_off(audit_id, "Ann", "approve")
    assert main(["verify", "--db", url]) == 0 and "trail ok: 2 entries" in capsys.readouterr().out
    assert ro.signoffs(audit_id) == ()


def test_workspace_that_is_a_file(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.write_text("not a folder")
    monkeypatch.setenv("AUDITKIT_HOME", str(home))
    with pytest.raises(StoreError, match=rf"^{home} is a file where the audit store needs a folder \(File exists\)"):
        AuditStore()
    assert _one_error_line(capsys, ["history"]).startswith(f"error: {home} is a file where the audit store needs")


def test_store_path_that_is_a_folder_and_backup_beside_a_file(tmp_path, capsys):
    (tmp_path / "store.db").mkdir()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with pytest.raises(StoreError, match=rf"^cannot open the audit store at {tmp_path / 'store.db'} \(unable to open "
                                         r"database file\): its folder is missing, is a file, or is not writable"):
        AuditStore(url)
    assert _one_error_line(capsys, ["verify", "--db", url]).startswith("error: cannot open the audit store at")
    store = _store(tmp_path / "home")
    (tmp_path / "backups").write_text("a file")
    with pytest.raises(StoreError, match=rf"^{tmp_path / 'backups'} is a file where the audit store needs a folder"):
        store.backup(tmp_path / "backups" / "copy.db")


def test_key_path_that_is_a_folder(workspace):
    (workspace / "trail.key").mkdir(parents=True)
    with pytest.raises(StoreError, match=rf"^{workspace / 'trail.key'} is not a file: it must hold the trail key"):
        _store(workspace)
