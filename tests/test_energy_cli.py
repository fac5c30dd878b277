"""`python -m auditkit energy ...`: projections print the right numbers; bad input exits 2 with one line."""
from __future__ import annotations

import argparse
import json

import pytest

from auditkit.cli import energy as energy_cli
from auditkit.energy.carbon import carbon_intensity
from auditkit.errors import AuditkitError


def main(argv: list[str]) -> int:
    """The energy subcommands alone (the full CLI imports every panel)."""
    parser = argparse.ArgumentParser(prog="auditkit")
    energy_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_project_json(capsys):
    assert main(["energy", "project", "--kwh-per-1k", "0.002", "--predictions-per-day", "50000",
                 "--region", "FRA", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kwh_per_year"] == pytest.approx(36.5)
    assert out["co2e_kg_per_year"] == pytest.approx(36.5 * carbon_intensity("FRA").g_per_kwh / 1000)


def test_train_text_shows_assumptions(capsys):
    assert main(["energy", "train", "--params", "1e8", "--tokens", "1e9", "--accelerator", "H100",
                 "--utilisation", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "FLOPs = 6 x 1e+08 params x 1e+09 tokens = 6e+17" in out
    assert "989 TFLOPS peak" in out and "utilisation 0.5" in out and "700 W" in out


def test_regions_lists_codes(capsys):
    assert main(["energy", "regions", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["FRA"]["g_per_kwh"] == pytest.approx(carbon_intensity("FRA").g_per_kwh)


def test_bad_region_raises_an_auditkit_error_the_cli_prints_as_one_line():
    with pytest.raises(AuditkitError, match="Unknown region 'ZZZ'.*python -m auditkit energy regions"):
        main(["energy", "project", "--kwh-per-1k", "1", "--predictions-per-day", "5", "--region", "ZZZ"])


def test_every_energy_command_has_help(capsys):
    for cmd in ("sources", "regions", "project", "train"):
        with pytest.raises(SystemExit) as done:
            main(["energy", cmd, "--help"])
        assert done.value.code == 0
        assert "--json" in capsys.readouterr().out
