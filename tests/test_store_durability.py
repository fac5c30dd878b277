"""Audit store under concurrent writers and under SIGKILL in the middle of writes."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from auditkit.config import Settings
from auditkit.store import AuditStore

ROOT = Path(__file__).resolve().parents[1]


def _settings(home: Path) -> Settings:
    return replace(Settings(), home=home)


def test_twenty_threads_write_audits_at_once(tmp_path):
    store = AuditStore(settings=_settings(tmp_path))
    start = threading.Barrier(20)
    ids: list[str] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            start.wait()
            audit_id = store.create_audit(f"session {n}", data_sha256=f"{n:064x}")
            store.put_artifact(f"upload of session {n}".encode(), audit_id=audit_id, kind="data")
            store.complete_audit(audit_id, {"inputs": {"data_sha256": f"{n:064x}"}, "predictions": {"accuracy": n / 20}})
            store.sign_off(audit_id, f"reviewer {n}", "approve", "")
            ids.append(audit_id)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    records = {r.id: r for r in store.list()}
    assert set(records) == set(ids) and len(ids) == 20
    for audit_id in ids:  # each session sees its own numbers
        rec = store.get(audit_id)
        n = int(rec.name.split()[1])
        assert rec.status == "done"
        assert rec.audit["predictions"]["accuracy"] == n / 20
        assert rec.data_sha256 == f"{n:064x}"
        assert rec.signoffs[0].reviewer == f"reviewer {n}"
    assert len(store.events()) == 20 * 4
    assert store.verify_chain().ok
    report = store.startup_check(deep=True)
    assert report.integrity == "ok" and report.ok
    assert len(list(store.blobs.stored())) == 20


CHILD = textwrap.dedent("""
    import sys, time, types
    from dataclasses import replace
    from pathlib import Path
    # load the store without the package's heavy top-level imports (torch, transformers)
    pkg = types.ModuleType("auditkit")
    pkg.__path__ = [str(Path.cwd() / "auditkit")]
    sys.modules["auditkit"] = pkg
    from auditkit.config import Settings
    from auditkit.store import AuditStore, trail

    home, mode = Path(sys.argv[1]), sys.argv[2]
    store = AuditStore(settings=replace(Settings(), home=home))
    store.record_audit({"predictions": {"accuracy": 0.5}}, "finished before the crash")

    def ready(msg):
        print(msg, flush=True)
        time.sleep(60)

    if mode == "artifact":
        class SlowUpload:
            sent = False
            def read(self, n):
                if self.sent:
                    ready("ready")
                self.sent = True
                return b"x" * n
        store.put_artifact(SlowUpload(), kind="data")
    else:
        audit_id = store.create_audit("killed mid-write")
        real_append = trail.append
        def append(conn, key, kind, **kw):
            event = real_append(conn, key, kind, **kw)
            if kind == "audit.completed":  # results row and status written, not committed
                ready("ready " + audit_id)
            return event
        trail.append = append
        store.complete_audit(audit_id, {"predictions": {"accuracy": 0.9}, "blob": "y" * 200_000})
""")


def _kill_mid_write(home: Path, mode: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(home), mode], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        assert line.startswith("ready"), child.stderr.read()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    return line


@pytest.mark.timeout(120)
def test_sigkill_during_artifact_write_leaves_no_partial_blob(tmp_path):
    _kill_mid_write(tmp_path, "artifact")
    partial = list((tmp_path / "artifacts" / "tmp").iterdir())
    assert len(partial) == 1 and partial[0].stat().st_size > 0  # the interrupted write
    store = AuditStore(settings=_settings(tmp_path))
    report = store.startup_check()
    assert report.temp_files_removed == 1
    assert list((tmp_path / "artifacts" / "tmp").iterdir()) == []
    assert list(store.blobs.stored()) == [] and report.orphan_blobs == () and report.ok
    with sqlite3.connect(tmp_path / "auditkit.db") as db:
        assert db.execute("SELECT count(*) FROM artifacts").fetchone()[0] == 0
    assert store.verify_chain().ok


@pytest.mark.timeout(120)
def test_sigkill_during_audit_write_marks_run_failed(tmp_path):
    audit_id = _kill_mid_write(tmp_path, "audit").split()[1]
    store = AuditStore(settings=_settings(tmp_path))
    rec = store.get(audit_id)
    assert rec.status == "pending" and rec.audit is None  # the uncommitted result never landed
    report = store.startup_check()
    assert report.failed_runs == (audit_id,)
    assert report.integrity == "ok" and report.ok
    rec = store.get(audit_id)
    assert rec.status == "failed" and "stopped before it finished" in rec.error
    assert [r.status for r in store.list()] == ["failed", "done"]
    assert [e.kind for e in store.events(audit_id)] == ["audit.created", "audit.failed"]
    check = store.verify_chain()
    assert check.ok and check.entries == 4
    assert store.startup_check().failed_runs == ()  # the next start is clean
