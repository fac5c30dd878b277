"""Bad configuration gets a message: environment settings that do not parse and database URLs that cannot work are
one line naming the variable and the fix (CLI: `error:` and exit 2; app: an error box), never a traceback."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from auditkit.cli import main
from auditkit.config import DEFAULT_MAX_JOBS, ENV_NUMBERS, Settings, check_environment, max_jobs
from auditkit.errors import SettingsError
from auditkit.store import AuditStore, StoreError

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, value", [("AUDITKIT_MAX_FILE_MB", "abc"), ("AUDITKIT_MAX_JOBS", "two"),
                                         ("AUDITKIT_MIN_GROUP_SIZE", "-3"), ("AUDITKIT_EXPLAIN_ROWS", "1.5"),
                                         ("AUDITKIT_MAX_MODEL_GB", "0")])
def test_a_setting_that_does_not_parse_names_the_variable_and_the_fix(name, value, monkeypatch):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        check_environment()
    expected_default = DEFAULT_MAX_JOBS if name == "AUDITKIT_MAX_JOBS" else getattr(Settings, ENV_NUMBERS[name][0])
    assert str(err.value).startswith(f"the environment variable {name} is {value!r}, which is not a whole number "
                                     f"of at least 1 (")
    assert str(err.value).endswith(f"Fix: set {name} to a number such as {expected_default} (the default), "
                                   f"or unset it.")


def test_settings_that_parse_are_used_and_empty_means_the_default(monkeypatch):
    monkeypatch.setenv("AUDITKIT_MAX_FILE_MB", " 12 ")
    monkeypatch.setenv("AUDITKIT_MAX_JOBS", "3")
    monkeypatch.setenv("AUDITKIT_EXPLAIN_ROWS", "")
    settings = check_environment()
    assert (settings.max_file_mb, settings.explain_rows, max_jobs()) == (12, 1000, 3)


@pytest.mark.parametrize("env, message", [
    ({"AUDITKIT_MAX_FILE_MB": "abc"}, "error: the environment variable AUDITKIT_MAX_FILE_MB is 'abc'"),
    ({"AUDITKIT_DB_URL": "garbage"}, "error: the database URL 'garbage' (from --db or AUDITKIT_DB_URL) is not a "
                                     "database URL. Fix: set AUDITKIT_DB_URL (or --db) to a URL such as"),
    ({"AUDITKIT_DB_URL": "nosuch://db/x"}, "error: the database URL nosuch://db/x (from --db or AUDITKIT_DB_URL) "
                                           "names the database kind 'nosuch'"),
    ({"AUDITKIT_DB_URL": "mysql://ann:s3cret@127.0.0.1:1/audits"},
     "error: the database URL mysql://ann:***@127.0.0.1:1/audits (from --db or AUDITKIT_DB_URL) needs the Python "
     "driver 'MySQLdb', which is not installed"),
])
def test_the_cli_prints_one_error_line_and_exits_2(env, message, monkeypatch, capsys):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["history"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
    assert "s3cret" not in err


def test_a_job_count_that_does_not_parse_stops_a_real_cli_process_with_one_line(tmp_path):
    """It used to fail while importing the job module, before the CLI could catch anything."""
    done = subprocess.run([sys.executable, "-m", "auditkit", "history"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "AUDITKIT_HOME": str(tmp_path / "home"),
                                            "AUDITKIT_MAX_JOBS": "two", "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2
    assert done.stderr == ("error: the environment variable AUDITKIT_MAX_JOBS is 'two', which is not a whole number "
                           "of at least 1 (audits or training jobs run at once). Fix: set AUDITKIT_MAX_JOBS to a "
                           "number such as 2 (the default), or unset it.\n")


def test_a_store_url_that_cannot_work_is_a_store_error(monkeypatch):
    monkeypatch.setenv("AUDITKIT_DB_URL", "nosuch://db/x")
    with pytest.raises(StoreError, match=r"names the database kind 'nosuch'.* Fix: set AUDITKIT_DB_URL"):
        AuditStore()


def test_the_app_shows_an_error_box_and_nothing_else(monkeypatch):
    monkeypatch.setenv("AUDITKIT_MAX_FILE_MB", "abc")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    [box] = at.error
    assert box.value.startswith("**Problem:** the environment variable AUDITKIT\\_MAX\\_FILE\\_MB is 'abc'")
    assert not at.title  # no page ran
