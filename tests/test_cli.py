import json
import subprocess
import sys
from pathlib import Path

import pytest

from auditkit.cli import build_parser

from tests.builders import Canary, tabular_frame, tabular_model

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "auditkit", *map(str, args)], cwd=ROOT, capture_output=True, text=True, env=env)


def commands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sorted(sub.choices)


def test_help_works_for_every_command():
    names = commands()
    assert {"audit", "demo"} <= set(names)
    for name in names:
        with pytest.raises(SystemExit) as info:
            build_parser().parse_args([name, "--help"])
        assert info.value.code == 0


def test_audit_writes_audit_json(tmp_path):
    data = tmp_path / "d.csv"
    tabular_frame().to_csv(data, index=False)
    result = cli("audit", "--data", data, "--model", tabular_model(tmp_path / "m.pt2"), "--target", "y",
                 "--sensitive", "sex,race", "--out", tmp_path / "out", "--quiet", "--exit-zero")
    assert result.returncode == 0, result.stderr
    audit = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert audit["inputs"]["columns"]["features"] == ["x1", "x2"]
    assert audit["inputs"]["rows"] == 400
    import hashlib
    assert audit["inputs"]["data_sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    assert audit["predictions"]["accuracy"] > 0.95


@pytest.mark.parametrize("args, message", [
    (["--target", "nope"], "column 'nope' (target) is not in the file"),
    (["--target", "y", "--positive-label", "yes"], "positive label 'yes' does not occur in 'y'"),
    (["--target", "y", "--model", "PICKLE"], "is a Python pickle"),
    (["--target", "y", "--model", "missing.pt2"], "does not exist"),
])
def test_bad_input_prints_one_clear_message_and_exits_2(tmp_path, args, message):
    data = tmp_path / "d.csv"
    tabular_frame().to_csv(data, index=False)
    canary = tmp_path / "canary"
    pickle_path = tmp_path / "m.pt"
    import pickle
    pickle_path.write_bytes(pickle.dumps(Canary(canary)))
    args = [str(pickle_path) if a == "PICKLE" else a for a in args]
    if "--model" not in args:
        args += ["--model", str(tabular_model(tmp_path / "m.pt2"))]
    result = cli("audit", "--data", data, "--sensitive", "sex,race", "--out", tmp_path / "out", "--quiet", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")
    assert not canary.exists()
    assert not (tmp_path / "out" / "audit.json").exists()
