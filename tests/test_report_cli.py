"""`report` subcommand: from an audit.json file and from a stored audit id."""
from __future__ import annotations

import json

import yaml

from auditkit.cli import main
from auditkit.store import AuditStore

AUDIT = {"inputs": {"data_sha256": "a" * 64, "rows": 50, "columns": {"target": "y"}},
         "predictions": {"accuracy": 0.65, "positive_rate": 0.5},
         "fairness": {"sex": {"by_group": {"F": {"selection_rate": 0.2}, "M": {"selection_rate": 0.5}},
                              "demographic_parity_difference": 0.3}}}


def test_report_from_file_all_formats(tmp_path, capsys):
    src = tmp_path / "run" / "audit.json"
    src.parent.mkdir()
    src.write_text(json.dumps(AUDIT))
    policy = tmp_path / "p.yaml"
    policy.write_text("name: strict\nrules: {accuracy: {min: 0.6}}\n")
    for fmt, name in (("html", "r.html"), ("pdf", "r.pdf"), ("json", "r.json"), ("modelcard", "README.md")):
        assert main(["report", str(src.parent), "--format", fmt, "--out", str(tmp_path / name),
                     "--policy", str(policy), "--card", "contacts=ops@example.org"]) == 0
    assert (tmp_path / "r.pdf").read_bytes().startswith(b"%PDF")
    html = (tmp_path / "r.html").read_text()
    assert "policy strict" in html and "ops@example.org" in html
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["scorecard"]["counts"] == {"pass": 1, "fail": 0, "not_measured": 0}
    # a JSON export can itself be reported again
    assert main(["report", str(tmp_path / "r.json"), "--format", "modelcard", "--out", str(tmp_path / "again.md")]) == 0
    meta = yaml.safe_load((tmp_path / "again.md").read_text().split("---\n")[1])
    assert meta["model-index"][0]["results"][0]["metrics"][0] == {"type": "accuracy", "value": 0.65, "name": "Accuracy"}


def test_report_of_stored_audit_is_recorded_in_trail(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.db'}"
    store = AuditStore(url)
    audit_id = store.record_audit(AUDIT, "stored")
    store.sign_off(audit_id, "Rita Reviewer", "reject", "parity gap too large")
    out = tmp_path / "stored.html"
    assert main(["report", audit_id, "--db", url, "--out", str(out)]) == 0
    html = out.read_text()
    assert "Rita Reviewer" in html and "parity gap too large" in html and "audit.completed" in html
    events = store.events(audit_id)
    assert [e.kind for e in events][-2:] == ["artifact.stored", "report.exported"]
    assert store.read_artifact(events[-1].detail["sha256"]) == out.read_bytes()
    assert store.verify_chain().ok


def test_report_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["report", str(bad), "--out", str(tmp_path / "x.html")]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing.json"), "--out", str(tmp_path / "x.html")]) == 2
    assert "does not exist" in capsys.readouterr().err
    pol = tmp_path / "evil.yaml"
    pol.write_text("!!python/object/apply:os.system ['true']")
    src = tmp_path / "a.json"
    src.write_text(json.dumps(AUDIT))
    assert main(["report", str(src), "--policy", str(pol), "--out", str(tmp_path / "x.html")]) == 2
    assert "tag not allowed" in capsys.readouterr().err
    assert not (tmp_path / "x.html").exists()
