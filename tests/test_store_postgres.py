"""The audit store on PostgreSQL. Runs when AUDITKIT_TEST_POSTGRES_URL names a disposable database, e.g.
postgresql+psycopg://postgres@/auditkit_test?host=/tmp/pg&port=5432 (its tables are dropped first)."""
from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import create_engine, text

from auditkit.store import AuditStore, schema

URL = os.environ.get("AUDITKIT_TEST_POSTGRES_URL")
pytestmark = pytest.mark.skipif(not URL, reason="set AUDITKIT_TEST_POSTGRES_URL to test PostgreSQL")


@pytest.fixture()
def store():
    engine = create_engine(URL)
    schema.metadata.drop_all(engine)
    engine.dispose()
    return AuditStore(URL)


def test_round_trip_signoff_and_tamper(store):
    audit = {"inputs": {"data_sha256": "d" * 64, "columns": {"target": "y"}}, "predictions": {"accuracy": 0.75}}
    audit_id = store.record_audit(audit, "pg")
    store.sign_off(audit_id, "Ann", "approve", "fine")
    assert store.get(audit_id).audit == audit
    assert store.verify_chain().ok
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET actor = 'mallory' WHERE seq = 2"))
    check = store.verify_chain()
    assert (check.ok, check.first_bad) == (False, "event #2")
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE events SET actor = 'local' WHERE seq = 2"))
    assert store.verify_chain().ok


def test_rows_and_files_are_sealed(store):
    audit_id = store.record_audit({"inputs": {"columns": {"target": "y", "sensitive": ["sex"]}}}, "pg")
    sha = store.put_artifact(b"report", audit_id=audit_id, kind="report.html", name="r.html")
    store.sign_off(audit_id, "Ann", "reject", "gap")
    assert store.verify_chain().ok
    with store.engine.begin() as conn:
        conn.execute(text("""UPDATE inputs SET columns = '{"target": "y", "sensitive": []}'"""))
        conn.execute(text("DELETE FROM signoffs"))
    blob = store.artifact_path(sha)
    blob.chmod(0o644)
    blob.write_bytes(b"REPORT")
    problems = store.verify_chain().problems
    assert [p.split(" was")[0].split(" (")[0] for p in problems] == [
        f"the inputs of audit {audit_id}", f"the stored file of artifact {sha[:16]}",
        f"the sign-off 1 of audit {audit_id}"]
    assert "column columns reads {'sensitive': [], 'target': 'y'}" in problems[0]


def test_twenty_threads(store):
    errors = []

    def worker(n: int) -> None:
        try:
            store.record_audit({"predictions": {"accuracy": n / 20}}, f"t{n}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.list()) == 20
    check = store.verify_chain()
    assert check.ok and check.entries == 40
    report = store.startup_check()
    assert report.ok and report.integrity == "not applicable" and report.failed_runs == ()
