"""`verify` and `history` subcommands against a real store."""
from __future__ import annotations

import json
import sqlite3

from auditkit.cli import main
from auditkit.store import AuditStore


def test_verify_ok_then_names_altered_entry(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'audits.db'}"
    store = AuditStore(url)
    audit_id = store.record_audit({"predictions": {"accuracy": 0.7}}, "model a")
    store.sign_off(audit_id, "Ann", "approve", "ok")
    assert main(["verify", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "trail ok: 3 entries verified" in out
    head = out.split("head ")[1].split()[0]
    assert head == store.events()[-1].hash
    assert main(["verify", "--db", url, "--anchor", head]) == 0
    assert main(["verify", "--db", url, "--anchor", "0" * 63 + "1"]) == 1
    assert "no entry has the anchored hash" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "audits.db") as db:
        db.execute("UPDATE events SET detail = replace(detail, 'approve', 'reject') WHERE seq = 3")
    assert main(["verify", "--db", url]) == 1
    out = capsys.readouterr().out
    assert "trail BROKEN at event #3" in out and "altered" in out
    assert main(["verify", "--db", url, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["chain"]["first_bad_seq"] == 3


def test_verify_startup_marks_nothing_on_a_clean_store(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    AuditStore(url).record_audit({"predictions": {"accuracy": 0.7}})
    assert main(["verify", "--db", url, "--startup", "--deep"]) == 0
    assert "integrity ok; runs marked failed 0" in capsys.readouterr().out


def test_history_lists_and_filters(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    store = AuditStore(url)
    a = store.record_audit({"inputs": {"data_sha256": "c" * 64}, "predictions": {}}, "credit <v1>")
    b = store.create_audit("text model")
    store.fail_audit(b, "bad file")
    assert main(["history", "--db", url]) == 0
    out = capsys.readouterr().out
    assert out.index(b) < out.index(a) and "credit <v1>" in out and "failed" in out and "cccccccccccc" in out
    assert main(["history", "--db", url, "--status", "done", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [a] and rows[0]["name"] == "credit <v1>"


def test_missing_store_is_an_error_not_a_new_empty_store(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    assert main(["verify", "--db", url]) == 2
    assert "there is no audit store at" in capsys.readouterr().err
    assert main(["history", "--db", url]) == 2
    assert not (tmp_path / "typo.db").exists()
