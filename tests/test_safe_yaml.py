"""Every YAML a user supplies (policies, model-card files, the roles file) is read within limits: a tiny alias
tree, a 50,000-deep nesting and a 100 MB file each give one clear message quickly; tags and repeated keys too."""
from __future__ import annotations

import json
import time

import pytest

from auditkit.access import load_roles, parse_roles
from auditkit.cli import main
from auditkit.config import Settings
from auditkit.errors import SettingsError
from auditkit.policy import PolicyError, load_policy, parse_policy
from auditkit.report import read_card_file
from auditkit.report.errors import ReportError
from auditkit.safe_yaml import MAX_DEPTH, load_yaml


def alias_tree(levels: int = 9, fan: int = 9) -> str:
    """A few hundred bytes of anchors, each listing the previous one `fan` times: fan**levels values expanded."""
    names = [f"l{i}" for i in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [{', '.join(['x'] * fan)}]"]
    lines += [f"{n}: &{n} [{', '.join(['*' + p] * fan)}]" for p, n in zip(names, names[1:])]
    return "rules:\n  accuracy: {min: 0.5}\n" + "\n".join(lines) + "\n"


DEEP = "rules: " + "[" * 49_990 + "]" * 49_990 + "\n"  # just under the policy size cap


def _quick(call, error, message: str) -> str:
    """Run `call`, which must raise `error` with `message` in well under a second or two; return the message."""
    start = time.perf_counter()
    with pytest.raises(error) as caught:
        call()
    assert time.perf_counter() - start < 2.0
    text = str(caught.value)
    assert message in text and "\n" not in text
    return text


def test_an_alias_tree_of_a_few_hundred_bytes_is_refused_quickly():
    text = alias_tree()
    assert len(text.encode()) < 600  # 9**9 (387 million) values once expanded
    _quick(lambda: parse_policy(text, source="bomb.yaml"), PolicyError,
           "bomb.yaml expands to more than 100,000 values through its aliases (*name); write the values out")


def test_a_nesting_50k_deep_is_refused_quickly_without_a_traceback():
    _quick(lambda: parse_policy(DEEP, source="deep.yaml"), PolicyError,
           f"deep.yaml nests values more than {MAX_DEPTH} levels deep")


def test_nesting_through_aliases_counts_too():
    levels = "\n".join(f"k{i}: &k{i} [*k{i - 1}]" for i in range(1, MAX_DEPTH + 2))
    _quick(lambda: load_yaml(f"k0: &k0 [x]\n{levels}\n", source="chain.yaml", error=SettingsError), SettingsError,
           f"chain.yaml nests values more than {MAX_DEPTH} levels deep through its aliases")


def test_a_100_mb_policy_file_is_refused_by_its_size_before_it_is_read(tmp_path):
    big = tmp_path / "policy.yaml"
    with open(big, "wb") as f:
        f.truncate(100 * 2 ** 20)  # sparse: nothing is written, the size is what counts
    _quick(lambda: load_policy(big), PolicyError, f"policy file {big} is 104,857,600 bytes; the limit is 100,000")


@pytest.mark.parametrize("text, message", [
    ("a: &a [*a]\n", "has an alias inside its own anchor"),
    ("rules:\n  accuracy: {min: 0.5}\n  accuracy: {max: 0.9}\n", "has the key 'accuracy' twice in one mapping (line 3)"),
    ("rules: !!python/object/apply:os.system ['touch canary']\n", "YAML tag not allowed"),
    ("rules: [unclosed\n", "is not valid YAML"),
    (b"rules: {acc\xe9: {min: 1}}\n", "is not UTF-8 text (byte 11); save it as UTF-8"),
])
def test_other_breaches_name_the_file_and_the_fix(text, message, tmp_path):
    _quick(lambda: parse_policy(text, source="p.yaml"), PolicyError, message)
    assert not (tmp_path / "canary").exists()


def test_anchors_and_merge_keys_within_the_limits_still_work():
    policy = parse_policy("rules:\n  accuracy: &floor {min: 0.7}\n  recall: *floor\n"
                          "  precision: {<<: *floor, max: 0.99}\n")
    assert [(r.name, r.min, r.max) for r in policy.rules] == [("accuracy", 0.7, None), ("recall", 0.7, None),
                                                               ("precision", 0.7, 0.99)]


def test_the_cli_prints_one_error_line_and_exits_2_for_a_hostile_policy(tmp_path, capsys):
    audit = tmp_path / "audit.json"
    audit.write_text(json.dumps({"inputs": {"rows": 10}, "predictions": {"accuracy": 0.8}}), encoding="utf-8")
    for name, text in (("bomb.yaml", alias_tree()), ("deep.yaml", DEEP)):
        (tmp_path / name).write_text(text, encoding="utf-8")
        start = time.perf_counter()
        code = main(["report", str(audit), "--format", "json", "--out", str(tmp_path / "r.json"),
                     "--policy", str(tmp_path / name)])
        err = capsys.readouterr().err
        assert code == 2 and time.perf_counter() - start < 5
        assert err.startswith(f"error: policy file {tmp_path / name} ") and err.count("\n") == 1
        assert not (tmp_path / "r.json").exists()


def test_roles_file_limits_and_an_email_listed_twice(tmp_path, monkeypatch):
    with pytest.raises(SettingsError, match=r"roles\.yaml lists the e-mail address ann@example\.org twice "
                                            r"\('Ann@Example\.org' and 'ann@example\.org'"):
        parse_roles("users:\n  Ann@Example.org: analyst\n  ann@example.org: reviewer\n", source="roles.yaml")
    with pytest.raises(SettingsError, match="has the key 'bob@example.org' twice in one mapping"):
        parse_roles("users:\n  bob@example.org: analyst\n  bob@example.org: admin\n", source="roles.yaml")
    roles = tmp_path / "roles.yaml"
    roles.write_text(alias_tree().replace("rules:\n  accuracy: {min: 0.5}\n", "users: {}\n"), encoding="utf-8")
    monkeypatch.setenv("AUDITKIT_ROLES_FILE", str(roles))
    _quick(lambda: load_roles(Settings(home=tmp_path)), SettingsError,
           f"the roles file {roles} expands to more than 100,000 values")


def test_model_card_file_deep_nesting_is_refused(tmp_path):
    card = tmp_path / "card.yaml"
    card.write_text("contacts: " + "[" * 50_000 + "]" * 50_000 + "\n", encoding="utf-8")
    _quick(lambda: read_card_file(card), ReportError, f"the model-card file {card} nests values more than")
