"""The trail misses nothing: each class of edit made directly in the SQLite file or the artifact folder, as an
attacker with write access but without the trail key would make it, is named by a plain `verify_chain()`."""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from auditkit.config import Settings
from auditkit.store import AuditStore, StoreError
from auditkit.store.trail import entry_message

AUDIT = {"inputs": {"data_sha256": "d" * 64, "model_sha256": "m" * 64,
                    "columns": {"target": "approved", "sensitive": ["sex", "race"]}},
         "predictions": {"accuracy": 0.81}, "fairness": {"sex": {"demographic_parity_difference": 0.12}}}
REPORT = b"<html><body>Verdict: FAIL (demographic parity 0.12 > 0.10)</body></html>"


@dataclass
class Trail:
    """A store with a finished audit (a reviewer's reject, a stored report) and a failed one."""

    store: AuditStore
    done: str
    failed: str
    report: str

    @property
    def db(self) -> Path:
        return Path(self.store.engine.url.database)

    def sql(self, statement: str, *args) -> None:
        with sqlite3.connect(self.db) as db:
            db.execute(statement, args)
        db.close()

    def seq_of(self, kind: str, audit_id: str) -> int:
        return next(e.seq for e in reversed(self.store.events(audit_id)) if e.kind == kind)


@pytest.fixture()
def trail(tmp_path) -> Trail:
    store = AuditStore(settings=replace(Settings(), home=tmp_path))
    done = store.record_audit(AUDIT, "loan model v3")
    report = store.put_artifact(REPORT, audit_id=done, kind="report.html", name="report.html")
    store.sign_off(done, "Dana Reviewer", "reject", "parity gap over the policy limit")
    failed = store.create_audit("text model")
    store.fail_audit(failed, "model file was refused: pickle")
    assert store.verify_chain().ok
    return Trail(store, done, failed, report)


def broken(t: Trail):
    check = t.store.verify_chain()
    assert not check.ok
    return check


def test_deleting_a_reviewers_reject_signoff(trail):
    seq = trail.seq_of("signoff", trail.done)
    trail.sql("DELETE FROM signoffs WHERE decision = 'reject'")
    check = broken(trail)
    assert (check.first_bad, check.first_bad_seq) == (f"sign-off 1 of audit {trail.done}", seq)
    assert check.reason == (f"the sign-off 1 of audit {trail.done} (table signoffs), written by event #{seq} "
                            f"(signoff), was deleted")


def test_deleting_a_signoff_with_its_entry_leaves_a_gap(trail):
    seq = trail.seq_of("signoff", trail.done)
    trail.sql("DELETE FROM signoffs")
    trail.sql("DELETE FROM events WHERE seq = ?", seq)
    check = broken(trail)
    assert check.first_bad == f"event #{seq}" and "entries were deleted" in check.reason


def test_deleting_the_results_row_of_a_finished_audit(trail):
    seq = trail.seq_of("audit.completed", trail.done)
    trail.sql("DELETE FROM results WHERE audit_id = ?", trail.done)
    check = broken(trail)
    assert (check.first_bad, check.first_bad_seq) == (f"result of audit {trail.done}", seq)
    assert check.reason.endswith(f"(table results), written by event #{seq} (audit.completed), was deleted")


def test_deleting_artifact_rows_with_their_report_blob(trail):
    seq = trail.seq_of("artifact.stored", trail.done)
    blob = trail.store.artifact_path(trail.report)
    trail.sql("DELETE FROM audit_artifacts")
    trail.sql("DELETE FROM artifacts")
    blob.chmod(0o644)
    blob.unlink()
    check = broken(trail)
    short = trail.report[:16]
    assert (check.first_bad, check.first_bad_seq) == (f"artifact {short}", seq)
    assert check.problems == (
        f"the artifact {short} (table artifacts), written by event #{seq} (artifact.stored), was deleted",
        f"the report.html artifact {short} of audit {trail.done} (table audit_artifacts), written by event #{seq} "
        f"(artifact.stored), was deleted",
        f"the stored file of artifact {short} (report.html of audit {trail.done}), recorded by event #{seq} "
        f"(artifact.stored), is missing from {blob.parent}",
    )


def test_back_dating_an_audits_creation_time(trail):
    created = trail.store.get(trail.done).created
    trail.sql("UPDATE audits SET created = '2023-01-01T09:00:00.000000+00:00' WHERE id = ?", trail.done)
    check = broken(trail)
    seq = trail.seq_of("audit.completed", trail.done)
    assert check.first_bad == f"audit {trail.done}"
    assert check.reason == (f"the audit {trail.done} was changed: table audits, column created reads "
                            f"'2023-01-01T09:00:00.000000+00:00' but event #{seq} (audit.completed) wrote '{created}'")


def test_rewriting_an_audits_error_text(trail):
    trail.sql("UPDATE audits SET error = 'cancelled by the analyst' WHERE id = ?", trail.failed)
    check = broken(trail)
    seq = trail.seq_of("audit.failed", trail.failed)
    assert (check.first_bad, check.first_bad_seq) == (f"audit {trail.failed}", seq)
    assert "column error reads 'cancelled by the analyst'" in check.reason
    assert f"event #{seq} (audit.failed) wrote 'model file was refused: pickle'" in check.reason


def test_editing_recorded_input_columns(trail):
    trail.sql("UPDATE inputs SET columns = ? WHERE audit_id = ?",
              json.dumps({"target": "approved", "sensitive": ["sex"]}), trail.done)
    check = broken(trail)
    assert check.first_bad == f"inputs of audit {trail.done}"
    assert "table inputs, column columns reads {'sensitive': ['sex'], 'target': 'approved'}" in check.reason


def test_unreadable_json_in_a_row_is_named_not_a_crash(trail):
    trail.sql("UPDATE inputs SET columns = '{not json' WHERE audit_id = ?", trail.done)
    assert "column columns reads 'unreadable JSON: {not json'" in broken(trail).reason
    with pytest.raises(StoreError, match="unreadable .* altered outside AuditKit"):
        trail.store.list()


def test_same_size_edit_inside_a_report_blob_even_with_its_times_restored(trail):
    blob = trail.store.artifact_path(trail.report)
    before = blob.stat()
    blob.chmod(0o644)
    blob.write_bytes(REPORT.replace(b"FAIL", b"PASS"))
    blob.chmod(0o444)
    os.utime(blob, ns=(before.st_atime_ns, before.st_mtime_ns))  # same size and modification time as before
    assert blob.stat().st_size == before.st_size
    check = broken(trail)  # the same store object that wrote (and last saw) the file
    assert check.first_bad == f"stored file of artifact {trail.report[:16]}"
    assert check.reason.endswith("no longer matches its SHA-256: its bytes were altered")
    fresh = AuditStore(settings=trail.store.settings)  # a new process re-hashes every file
    assert fresh.verify_chain().reason == check.reason


def test_forged_approve_signoff_with_a_correct_unkeyed_hash(trail):
    """The attacker knows the format and appends a well-linked entry; only the trail key makes a valid seal."""
    with sqlite3.connect(trail.db) as db:
        seq, prev = db.execute("SELECT seq + 1, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
        created = "2030-01-01T00:00:00.000000+00:00"
        db.execute("INSERT INTO signoffs (audit_id, reviewer, decision, comment, created, event_seq) "
                   "VALUES (?, 'Lee', 'approve', 'fine', ?, ?)", (trail.done, created, seq))
        image = dict(zip(("id", "audit_id", "reviewer", "decision", "comment", "created", "event_seq"),
                         db.execute("SELECT * FROM signoffs WHERE reviewer = 'Lee'").fetchone()))
        detail = json.dumps({"comment": "fine", "decision": "approve", "reviewer": "Lee"}, separators=(",", ":"))
        rows = json.dumps({"signoffs": [image]}, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(entry_message(seq, created, trail.done, "signoff", "Lee", detail, rows,
                                              prev)).hexdigest()
        db.execute("INSERT INTO events VALUES (?, ?, ?, 'signoff', 'Lee', ?, ?, ?, ?)",
                   (seq, created, trail.done, detail, rows, prev, digest))
    db.close()
    check = broken(trail)
    assert (check.first_bad, check.first_bad_seq) == (f"event #{seq}", seq)
    assert check.reason == (f"event #{seq} (signoff) was altered or forged: its seal does not match its content "
                            f"under the trail key")


def test_inserted_audit_row(trail):
    trail.sql("INSERT INTO audits VALUES ('f00', 'approved model', '2024-01-01', '2024-01-01', 'done', NULL, 'h:1')")
    check = broken(trail)
    assert (check.first_bad, check.first_bad_seq) == ("audit f00", None)
    assert check.reason == "the audit f00 (table audits) was inserted directly: no trail entry wrote it"


@pytest.mark.parametrize(("statement", "where", "column"), [
    ("UPDATE results SET audit_json = replace(audit_json, '0.81', '0.99')", "result of audit {done}", "audit_json"),
    ("UPDATE audits SET status = 'done' WHERE id = '{failed}'", "audit {failed}", "status"),
    ("UPDATE audits SET name = 'other model' WHERE id = '{done}'", "audit {done}", "name"),
    ("UPDATE inputs SET data_sha256 = '{e}' WHERE audit_id = '{done}'", "inputs of audit {done}", "data_sha256"),
    ("UPDATE signoffs SET comment = 'looks fine'", "sign-off 1 of audit {done}", "comment"),
    ("UPDATE audit_artifacts SET name = 'other.html'", "report.html artifact {short} of audit {done}", "name"),
    ("UPDATE artifacts SET created = '2020-01-01'", "artifact {short}", "created"),
])
def test_every_column_of_every_evidence_row_is_sealed(trail, statement, where, column):
    names = {"done": trail.done, "failed": trail.failed, "e": "e" * 64, "short": trail.report[:16]}
    trail.sql(statement.format(**names))
    check = broken(trail)
    assert check.first_bad == where.format(**names)
    assert f"column {column} reads" in check.reason


def test_altered_entry_and_several_problems_are_all_listed(trail):
    trail.sql("UPDATE events SET actor = 'mallory' WHERE seq = 3")
    check = broken(trail)
    assert (check.first_bad, check.first_bad_seq) == ("event #3", 3) and "altered or forged" in check.reason
    ok, first_bad = check
    assert (ok, first_bad) == (False, "event #3")
    trail.sql("UPDATE events SET actor = (SELECT actor FROM events WHERE seq = 2) WHERE seq = 3")
    assert trail.store.verify_chain().ok
    trail.sql("DELETE FROM results")
    trail.sql("UPDATE signoffs SET decision = 'approve'")
    assert [p.split(" (table")[0].split(" was")[0] for p in broken(trail).problems] == [
        f"the result of audit {trail.done}", f"the sign-off 1 of audit {trail.done}"]


def test_head_catches_the_newest_entries_deleted_with_their_rows(trail):
    head = trail.store.verify_chain().head
    trail.store.sign_off(trail.done, "Lee", "approve", "after a fix")
    assert trail.store.verify_chain(head=head).ok  # the trail grew from the filed head
    newest = trail.store.verify_chain().head
    trail.sql("DELETE FROM signoffs WHERE reviewer = 'Lee'")
    trail.sql("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)")
    assert trail.store.verify_chain().ok  # a consistent prefix: only a head filed outside the database tells
    check = trail.store.verify_chain(head=newest)
    assert (check.ok, check.first_bad) == (False, f"head {newest[:16]}")
    assert check.reason == (f"the trail no longer leads to head {newest}: no entry has that seal, so entries after "
                            f"it were deleted (the newest is #{len(trail.store.events())})")
    assert trail.store.verify_chain(head=head).ok
    with pytest.raises(StoreError, match="a head is the 64-hex-digit seal that `verify` printed, got 'abc'"):
        trail.store.verify_chain(head="abc")


# ------------------------------------------------------------------ the trail key


def test_key_file_is_created_once_with_owner_only_permissions(tmp_path):
    store = AuditStore(settings=replace(Settings(), home=tmp_path))
    key = tmp_path / "trail.key"
    assert key.stat().st_mode & 0o777 == 0o600
    text = key.read_text().strip()
    assert len(text) == 64 and int(text, 16) >= 0
    store.record_audit(AUDIT)
    AuditStore(settings=store.settings).record_audit(AUDIT)
    assert key.read_text().strip() == text
    with sqlite3.connect(tmp_path / "auditkit.db") as db:
        (key_id,) = db.execute("SELECT value FROM meta WHERE key = 'trail_key_id'").fetchone()
    assert key_id == store.key.id and text not in (tmp_path / "auditkit.db").read_text(errors="replace")


def test_missing_key_of_an_existing_trail_is_an_error_not_a_new_key(trail):
    key = trail.store.settings.home / "trail.key"
    key.unlink()
    with pytest.raises(StoreError, match=r"trail key of the audit store at .* is missing .* restore the trail.key "
                                         r"file from your backup or set AUDITKIT_TRAIL_KEY"):
        AuditStore(settings=trail.store.settings)
    assert not key.exists()


def test_wrong_key_is_refused_and_env_key_is_used(tmp_path, monkeypatch):
    home = replace(Settings(), home=tmp_path)
    monkeypatch.setenv("AUDITKIT_TRAIL_KEY", "k" * 40)
    AuditStore(settings=home).record_audit(AUDIT, "sealed with the env key")
    assert not (tmp_path / "trail.key").exists()
    assert AuditStore(settings=home).verify_chain().ok
    monkeypatch.setenv("AUDITKIT_TRAIL_KEY", "q" * 40)
    with pytest.raises(StoreError, match="the trail key from AUDITKIT_TRAIL_KEY is not the key that sealed"):
        AuditStore(settings=home)
    monkeypatch.setenv("AUDITKIT_TRAIL_KEY", "short")
    with pytest.raises(StoreError, match="AUDITKIT_TRAIL_KEY has 5 characters; use at least 32"):
        AuditStore(settings=home)
    monkeypatch.delenv("AUDITKIT_TRAIL_KEY")
    with pytest.raises(StoreError, match="is missing"):
        AuditStore(settings=home)


def test_key_file_readable_by_others_is_refused(trail):
    key = trail.store.settings.home / "trail.key"
    key.chmod(0o644)
    with pytest.raises(StoreError, match=f"can be read by other users; restrict it with `chmod 600 {key}`"):
        AuditStore(settings=trail.store.settings)


def test_removed_key_record_is_an_error(trail):
    trail.sql("DELETE FROM meta WHERE key = 'trail_key_id'")
    with pytest.raises(StoreError, match=r"has 6 trail entries but no record of the key that sealed them"):
        AuditStore(settings=trail.store.settings)


def test_store_of_the_unkeyed_schema_is_refused_with_the_fix(tmp_path):
    with sqlite3.connect(tmp_path / "old.db") as db:
        db.execute("CREATE TABLE meta (key VARCHAR(64) PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.close()
    with pytest.raises(StoreError, match=r"schema version 1, whose trail is not sealed with a key .* keep it as an "
                                         r"archive .* moving the file aside or setting AUDITKIT_DB_URL"):
        AuditStore(f"sqlite:///{tmp_path / 'old.db'}", settings=replace(Settings(), home=tmp_path))
