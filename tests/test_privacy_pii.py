"""PII scan with planted values (valid vs invalid Luhn, never-issued SSNs) and k-anonymity on a known table."""
from __future__ import annotations

import pandas as pd
import pytest

from auditkit.errors import DataValidationError, SettingsError
from auditkit.privacy.kanonymity import k_anonymity
from auditkit.privacy.pii import find_pii, luhn_valid, scan_pii


@pytest.mark.parametrize("number,valid", [
    ("4111111111111111", True), ("5500005555555559", True), ("378282246310005", True), ("79927398713", True),
    ("4111111111111112", False), ("5500005555555550", False), ("1234567812345678", False),
])
def test_luhn(number, valid):
    assert luhn_valid(number) is valid


@pytest.mark.parametrize("text,expected", [
    ("write to ana.ruiz+x@mail.example.org today", [("email", "ana.ruiz+x@mail.example.org")]),
    ("card 4111-1111-1111-1111", [("payment_card", "4111-1111-1111-1111")]),
    ("card 4111 1111 1111 1112", []),                       # fails Luhn
    ("ssn 078-05-1120", [("national_id_us_ssn", "078-05-1120")]),
    ("666-12-3456 and 123-00-4567", []),                    # never-issued ranges
    ("from 10.0.0.255", [("ip_address", "10.0.0.255")]),
    ("version 300.1.2.3", []),                              # not an address
    ("call +1 415 555 2671", [("phone", "+1 415 555 2671")]),
    ("income 54200.0 on 2024-01-15 at 12:30", []),
])
def test_find_pii(text, expected):
    assert find_pii(text) == expected


def test_scan_counts_per_column_and_masks():
    df = pd.DataFrame({
        "contact": ["a.b@example.com", "c@example.org", "none", "a.b@example.com", None],
        "card": ["4111 1111 1111 1111", "4111 1111 1111 1112", "5500005555555559", "x", "y"],
        "income": ["54200", "61000", "38000.5", "1", "2"],
        "first_name": ["Ana", "Bo", "Cy", "Di", "Ed"],
    })
    r = scan_pii(df)
    by = {(f.column, f.kind): f for f in r.findings}
    assert set(by) == {("contact", "email"), ("card", "payment_card"), ("first_name", "person_name")}
    assert by["contact", "email"].count == 3 and by["contact", "email"].fraction == pytest.approx(0.6)
    assert by["card", "payment_card"].count == 2  # the invalid-Luhn number is not counted
    assert set(by["card", "payment_card"].examples) == {"************1111", "************5559"}
    assert set(by["contact", "email"].examples) == {"a***@example.com", "c***@example.org"}
    assert by["first_name", "person_name"].examples == ("A***", "B***", "C***")
    assert r.totals["email"] == 3 and r.totals["phone"] == 0
    text = r.table().to_string()
    assert "4111 1111" not in text and "a.b@" not in text and "Ana" not in text
    assert r.to_dict()["columns_with_pii"] == ["card", "contact", "first_name"]


def test_k_anonymity_known_table():
    df = pd.DataFrame({"zip": ["100", "100", "100", "200", "200", "300"],
                       "sex": ["f", "f", "f", "m", "m", "f"], "x": range(6)})
    r = k_anonymity(df, ["zip", "sex"], threshold=3)
    assert (r.k, r.n_classes, r.classes_below, r.rows_below) == (1, 3, 2, 3)
    assert r.fraction_below == 0.5 and not r.passes
    assert k_anonymity(df, ["sex"], threshold=2).k == 2 and k_anonymity(df, ["sex"], threshold=2).passes


def test_k_anonymity_errors():
    df = pd.DataFrame({"a": [1]})
    with pytest.raises(DataValidationError, match="not in the data: b"):
        k_anonymity(df, ["b"])
    with pytest.raises(SettingsError, match="at least one quasi-identifier"):
        k_anonymity(df, [])
