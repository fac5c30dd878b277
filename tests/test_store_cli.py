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
    assert main(["verify", "--db", url, "--head", head]) == 0
    assert main(["verify", "--db", url, "--anchor", head]) == 0  # the earlier name of --head
    capsys.readouterr()
    assert main(["verify", "--db", url, "--head", "0" * 63 + "1"]) == 1
    assert capsys.readouterr().out == (f"trail BROKEN at head {'0' * 16}: the trail no longer leads to head "
                                       f"{'0' * 63}1: no entry has that seal, so entries after it were deleted "
                                       f"(the newest is #3)\n")
    assert main(["verify", "--db", url, "--head", "not-a-head"]) == 2
    assert capsys.readouterr().err == ("error: a head is the 64-hex-digit seal that `verify` printed, got "
                                       "'not-a-head'\n")
    with sqlite3.connect(tmp_path / "audits.db") as db:
        db.execute("UPDATE events SET detail = replace(detail, 'approve', 'reject') WHERE seq = 3")
    assert main(["verify", "--db", url]) == 1
    out = capsys.readouterr().out
    assert "trail BROKEN at event #3" in out and "altered or forged" in out
    assert main(["verify", "--db", url, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["chain"]["first_bad_seq"] == 3


def test_verify_lists_every_changed_row(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'audits.db'}"
    store = AuditStore(url)
    ids = [store.record_audit({"predictions": {"accuracy": n / 30}}, f"model {n}") for n in range(25)]
    with sqlite3.connect(tmp_path / "audits.db") as db:
        db.execute("UPDATE audits SET name = 'renamed'")
    assert main(["verify", "--db", url]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"trail BROKEN at audit {ids[0]}: the audit {ids[0]} was changed: table audits, "
                               f"column name reads 'renamed' but event #2 (audit.completed) wrote 'model 0'")
    assert [line.split(" was changed")[0] for line in lines[1:20]] == [f"  also: the audit {i}" for i in ids[1:20]]
    assert lines[20:] == ["  ... and 5 more (--json lists them all)"]
    assert main(["verify", "--db", url, "--json"]) == 1
    assert len(json.loads(capsys.readouterr().out)["chain"]["problems"]) == 25


def test_verify_without_the_key_is_one_error_line(tmp_path, capsys, workspace):
    url = f"sqlite:///{tmp_path / 'audits.db'}"
    AuditStore(url).record_audit({"predictions": {"accuracy": 0.7}}, "model a")
    (workspace / "trail.key").unlink()
    assert main(["verify", "--db", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: the trail key of the audit store at ") and err.count("\n") == 1


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


def test_report_to_an_output_path_of_the_wrong_kind_is_one_line_and_logs_nothing(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = AuditStore(url)
    audit_id = store.record_audit({"predictions": {"accuracy": 0.7}}, "model a")
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    for out, says in ((tmp_path / "afile" / "r.json", f"{tmp_path / 'afile'} is a file where a folder is needed"),
                      (tmp_path / "adir", f"{tmp_path / 'adir'} is a folder where a file is needed: name a file")):
        assert main(["report", audit_id, "--format", "json", "--db", url, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {says}") and err.count("\n") == 1
    assert list((tmp_path / "adir").iterdir()) == []
    assert [e.kind for e in store.events(audit_id)] == ["audit.created", "audit.completed"]
    assert store.get(audit_id).artifacts == () and store.verify_chain().ok
