"""audit.json -> report rendering under hostile edits: deep nesting, wrong types, non-finite numbers, missing
sections. Every format gives its bytes, with unreadable sections shown as "Not readable", or one ReportError."""
import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from auditkit.cli.report import load_audit_file
from auditkit.errors import AuditkitError
from auditkit.report import FORMATS, ReportError, render_report

GOLDEN = Path(__file__).parent / "golden"
BASES = {name: json.loads((GOLDEN / f"{name}.json").read_text()) for name in ("demo-lending", "demo-reviews")}
HOSTILE = st.sampled_from([float("nan"), float("inf"), -float("inf"), None, "", "x", -1, 10**30, True, [], {},
                           [1, "a", None], {"a": [float("nan")]}, [[[[1]]]], {"inputs": 1}])


def _paths(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, path + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value[:3]):
            yield from _paths(child, path + (i,))


PATHS = {name: list(_paths(audit))[1:] for name, audit in BASES.items()}


def _nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def _strict(data: bytes):
    def refuse(name):
        raise AssertionError(f"{name} in a JSON export")
    return json.loads(data, parse_constant=refuse)


def _render_all(audit) -> dict[str, bytes]:
    """Each format's bytes; a format may instead raise an AuditkitError (never anything else)."""
    out = {}
    for fmt in FORMATS:
        try:
            out[fmt] = render_report(audit, fmt)
        except AuditkitError:
            continue
        if fmt == "json":
            _strict(out[fmt])
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(BASES)), st.data())
def test_hostile_edits_render_or_give_a_message(base, data):
    audit = copy.deepcopy(BASES[base])
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(PATHS[base]))
        parent = audit
        try:
            for key in path[:-1]:
                parent = parent[key]
            if data.draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = data.draw(st.one_of(HOSTILE, st.integers(2, 70).map(_nested)))
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced this path's parent
    _render_all(audit)


def test_a_section_of_the_wrong_type_is_rendered_as_not_readable():
    audit = copy.deepcopy(BASES["demo-lending"])
    audit["privacy"]["membership_inference"]["attacks"][0]["auc"] = [0.5]
    out = _render_all(audit)
    assert set(out) == set(FORMATS)
    html = out["html"].decode()
    assert ("Not readable: this section of audit.json holds values of the wrong type or shape (TypeError). "
            "It is left out of the report.") in html
    assert "Fairness" in html and "Predictions" in html


def test_non_finite_numbers_are_null_in_the_json_export():
    audit = copy.deepcopy(BASES["demo-lending"])
    audit["predictions"]["accuracy"] = float("nan")
    audit["inputs"]["rows"] = float("inf")
    doc = _strict(render_report(audit, "json"))
    assert doc["audit"]["predictions"]["accuracy"] is None and doc["audit"]["inputs"]["rows"] is None
    assert "undefined" in render_report(audit, "html").decode()


def test_deep_nesting_is_one_message_in_every_format(tmp_path):
    audit = copy.deepcopy(BASES["demo-lending"])
    audit["fairness"]["note"] = _nested(5000)
    for fmt in FORMATS:
        with pytest.raises(ReportError) as err:
            render_report(audit, fmt)
        assert str(err.value) == ("the audit is nested more than 64 levels deep, which no audit.json AuditKit writes "
                                  "is. Fix: report an audit.json written by `auditkit audit`.")
    deep = tmp_path / "audit.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ReportError, match="is not valid JSON"):
        load_audit_file(deep)


@pytest.mark.parametrize("audit", [{}, {"inputs": []}, {"predictions": "x"}, {"inputs": {"rows": "many"}, "fairness": 3}])
def test_missing_and_mistyped_sections_still_render(audit):
    assert set(_render_all(audit)) == set(FORMATS)
