"""Epsilon calculator: equal to Opacus' accountants, pinned published value, clear errors, CLI output."""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from opacus.accountants import GaussianAccountant, PRVAccountant, RDPAccountant
from opacus.accountants.utils import get_noise_multiplier

from auditkit.cli import privacy as privacy_cli
from auditkit.errors import SettingsError
from auditkit.privacy.accounting import epsilon_curve, epsilon_spent, noise_for_epsilon

ROOT = Path(__file__).resolve().parents[1]
OPACUS = {"rdp": RDPAccountant, "prv": PRVAccountant, "gdp": GaussianAccountant}


def opacus_epsilon(accountant: str, sigma: float, q: float, steps: int, delta: float) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acc = OPACUS[accountant]()
        acc.history = [(sigma, q, steps)]
        return acc.get_epsilon(delta=delta)


def test_published_rdp_value():
    # opacus/tests/accountants_test.py pins this case.
    assert epsilon_spent(1.5, 0.04, 2250, delta=1e-5, accountant="rdp") == pytest.approx(7.32911117143, abs=1e-9)


@pytest.mark.parametrize("accountant", ["rdp", "prv", "gdp"])
@pytest.mark.parametrize("sigma,q,steps,delta", [(1.5, 0.04, 2250, 1e-5), (0.8, 0.005, 400, 1e-6), (3.0, 1.0, 5, 1e-3)])
def test_equals_opacus_accountant(accountant, sigma, q, steps, delta):
    ours = epsilon_spent(sigma, q, steps, delta=delta, accountant=accountant)
    assert ours == pytest.approx(opacus_epsilon(accountant, sigma, q, steps, delta), rel=1e-12)
    assert ours > 0


def test_stepping_accountant_matches_history_shortcut():
    acc = RDPAccountant()
    for _ in range(300):
        acc.step(noise_multiplier=1.1, sample_rate=0.01)
    assert epsilon_spent(1.1, 0.01, 300, delta=1e-5) == pytest.approx(acc.get_epsilon(delta=1e-5), rel=1e-12)


@pytest.mark.parametrize("accountant", ["rdp", "gdp"])
def test_noise_for_epsilon_inverts(accountant):
    sigma = noise_for_epsilon(2.0, 0.01, 1000, delta=1e-5, accountant=accountant)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = get_noise_multiplier(target_epsilon=2.0, target_delta=1e-5, sample_rate=0.01, steps=1000,
                                   accountant=accountant)
    assert sigma == pytest.approx(ref, rel=1e-12)
    eps = epsilon_spent(sigma, 0.01, 1000, delta=1e-5, accountant=accountant)
    assert 2.0 - 0.01 <= eps <= 2.0


def test_curve_is_increasing_and_ends_at_total():
    curve = epsilon_curve(1.0, 0.02, 500, delta=1e-5, points=10)
    steps = [s for s, _ in curve]
    eps = [e for _, e in curve]
    assert steps[-1] == 500 and len(curve) == 10
    assert all(a < b for a, b in zip(eps, eps[1:]))
    assert eps[-1] == pytest.approx(epsilon_spent(1.0, 0.02, 500, delta=1e-5))
    assert eps[0] == pytest.approx(epsilon_spent(1.0, 0.02, 50, delta=1e-5))


@pytest.mark.parametrize("call,needle", [
    (lambda: noise_for_epsilon(0, 0.01, 100, delta=1e-5), "Epsilon must be a finite number > 0"),
    (lambda: noise_for_epsilon(-1, 0.01, 100, delta=1e-5), "Epsilon must be a finite number > 0"),
    (lambda: epsilon_spent(1.0, 0.01, 100, delta=1.0), "Delta must be in (0, 1)"),
    (lambda: epsilon_spent(1.0, 0.01, 100, delta=0.0), "Delta must be in (0, 1)"),
    (lambda: epsilon_spent(1.0, 0.0, 100, delta=1e-5), "Sample rate must be in (0, 1]"),
    (lambda: epsilon_spent(1.0, 1.5, 100, delta=1e-5), "Sample rate must be in (0, 1]"),
    (lambda: epsilon_spent(1.0, 0.01, 0, delta=1e-5), "Steps must be a whole number >= 1"),
    (lambda: epsilon_spent(0.0, 0.01, 10, delta=1e-5), "Noise multiplier must be in (0,"),
    (lambda: epsilon_spent(1.0, 0.01, 10, delta=1e-5, accountant="moments"), "choose one of rdp, prv, gdp"),
])
def test_bad_input_raises_settings_error(call, needle):
    with pytest.raises(SettingsError) as e:
        call()
    assert needle in str(e.value)


def run_cli(argv: list[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="auditkit")
    privacy_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = args.func(args)
    return code, out.getvalue()


@pytest.mark.parametrize("accountant", ["rdp", "prv", "gdp"])
def test_cli_epsilon_last_token(accountant):
    code, out = run_cli(["privacy", "epsilon", "--noise-multiplier", "1.5", "--sample-rate", "0.04",
                         "--steps", "2250", "--delta", "1e-5", "--accountant", accountant])
    assert code == 0
    assert float(out.split()[-1]) == pytest.approx(opacus_epsilon(accountant, 1.5, 0.04, 2250, 1e-5), rel=1e-12)


def test_cli_noise_last_token():
    code, out = run_cli(["privacy", "noise", "--epsilon", "2", "--sample-rate", "0.01", "--steps", "1000",
                         "--delta", "1e-5"])
    assert code == 0
    assert float(out.split()[-1]) == pytest.approx(noise_for_epsilon(2.0, 0.01, 1000, delta=1e-5), rel=1e-12)


def test_cli_bad_input_raises_settings_error():
    with pytest.raises(SettingsError, match="Epsilon must be"):
        run_cli(["privacy", "noise", "--epsilon", "0", "--sample-rate", "0.01", "--steps", "10", "--delta", "1e-5"])


def test_cli_subprocess():
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "auditkit", "privacy", "epsilon", "--noise-multiplier", "1.5",
                        "--sample-rate", "0.04", "--steps", "2250", "--delta", "1e-5", "--accountant", "rdp"],
                       cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.split()[-1]) == pytest.approx(7.32911117143, abs=1e-9)


def test_cli_main_reports_bad_input_in_one_line(capsys):
    from auditkit.cli import main

    code = main(["privacy", "epsilon", "--noise-multiplier", "1.5", "--sample-rate", "0.04", "--steps", "2250",
                 "--delta", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "Delta must be in (0, 1)" in err and len(err.strip().splitlines()) == 1
