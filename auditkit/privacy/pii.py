"""Scan a table for personal data (PII) locally: counts per column and masked examples. Nothing leaves the process.

Detected kinds: e-mail addresses, payment-card numbers (13-19 digits passing the Luhn check), US social-security
numbers (AAA-GG-SSSS with the never-issued ranges excluded), IPv4/IPv6 addresses, phone numbers (international
+CC or North-American formats), and person-name columns (by column name). Each cell's text is matched kind by
kind in that order; matched text is removed before the next kind, so one value counts once.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import asdict, dataclass
from typing import Any, Callable

import pandas as pd

from auditkit.errors import DataValidationError

MAX_EXAMPLES = 3


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) checksum used by payment-card numbers."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _mask_email(s: str) -> str:
    local, _, domain = s.partition("@")
    return f"{local[:1]}***@{domain}"


def _keep_last4(s: str) -> str:
    digits = re.sub(r"\D", "", s)
    return "*" * max(len(digits) - 4, 0) + digits[-4:]


def _mask_ip(s: str) -> str:
    if ":" in s:
        return s.split(":")[0] + ":****"
    return ".".join(s.split(".")[:2] + ["*", "*"])


def _valid_card(s: str) -> bool:
    digits = re.sub(r"[ -]", "", s)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _valid_ip(s: str) -> bool:
    try:
        ipaddress.ip_address(s)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class _Kind:
    name: str
    pattern: re.Pattern[str]
    mask: Callable[[str], str]
    valid: Callable[[str], bool] = lambda s: True


KINDS: tuple[_Kind, ...] = (
    _Kind("email", re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"), _mask_email),
    _Kind("payment_card", re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"), _keep_last4, _valid_card),
    _Kind("national_id_us_ssn", re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)"),
          _keep_last4),
    _Kind("ip_address", re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])|(?<![\w:])(?:[0-9A-Fa-f]{1,4}:){2,7}"
                                   r"[0-9A-Fa-f:]*[0-9A-Fa-f](?![\w:])"), _mask_ip, _valid_ip),
    _Kind("phone", re.compile(r"(?<![\w+])\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}(?!\d)"
                              r"|(?<!\d)\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?!\d)"), _keep_last4),
)
# Too short and plain to be any detected kind (cards have 13+ digits; the others need separators).
_PLAIN_NUMBER = re.compile(r"^-?\d{1,12}(?:\.\d+)?$")
KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS) + ("person_name",)
_NAME_COLUMN = re.compile(r"^(?:(?:first|last|middle|full|given|family|sur|maiden)[ _-]?name|name|surname|"
                          r"forename|customer[ _-]?name|patient[ _-]?name)$", re.IGNORECASE)


@dataclass(frozen=True)
class PIIFinding:
    """Cells of one column holding one kind of PII, with masked examples."""

    column: str
    kind: str
    count: int
    fraction: float
    examples: tuple[str, ...]


@dataclass(frozen=True)
class PIIScanResult:
    """Findings per column and kind; `totals` counts cells per kind over all columns."""

    findings: tuple[PIIFinding, ...]
    n_rows: int
    columns_scanned: int

    @property
    def totals(self) -> dict[str, int]:
        out = {k: 0 for k in KIND_NAMES}
        for f in self.findings:
            out[f.kind] += f.count
        return out

    @property
    def columns_with_pii(self) -> list[str]:
        return sorted({f.column for f in self.findings})

    def to_dict(self) -> dict[str, Any]:
        return {"n_rows": self.n_rows, "columns_scanned": self.columns_scanned, "totals": self.totals,
                "columns_with_pii": self.columns_with_pii,
                "findings": [asdict(f) | {"examples": list(f.examples)} for f in self.findings]}

    def table(self) -> pd.DataFrame:
        """One row per (column, kind) with masked examples joined, for display."""
        return pd.DataFrame([{"column": f.column, "kind": f.kind, "cells": f.count, "share of rows": f.fraction,
                              "masked examples": ", ".join(f.examples)} for f in self.findings],
                            columns=["column", "kind", "cells", "share of rows", "masked examples"])


def find_pii(text: str) -> list[tuple[str, str]]:
    """(kind, matched text) for each PII value in `text`, kinds tried in `KINDS` order."""
    found = []
    for kind in KINDS:
        for m in list(kind.pattern.finditer(text)):
            value = m.group(0)
            if kind.valid(value):
                found.append((kind.name, value))
                text = text.replace(value, " ")
    return found


def scan_pii(frame: pd.DataFrame) -> PIIScanResult:
    """Scan every column of `frame` (each distinct value once) for the kinds in `KIND_NAMES`."""
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError("The PII scan needs a table (pandas DataFrame).")
    n = len(frame)
    findings: list[PIIFinding] = []
    for col in frame.columns:
        values = frame[col].dropna().astype(str).value_counts()
        counts: dict[str, int] = {}
        examples: dict[str, list[str]] = {}
        for value, times in values.items():
            if _PLAIN_NUMBER.match(value) or not any(ch.isdigit() or ch == "@" for ch in value):
                continue
            kinds_here = set()
            for kind, match in find_pii(value):
                kinds_here.add(kind)
                ex = examples.setdefault(kind, [])
                masked = next(k.mask for k in KINDS if k.name == kind)(match)
                if len(ex) < MAX_EXAMPLES and masked not in ex:
                    ex.append(masked)
            for kind in kinds_here:
                counts[kind] = counts.get(kind, 0) + int(times)
        for kind in (k.name for k in KINDS):
            if kind in counts:
                findings.append(PIIFinding(str(col), kind, counts[kind], counts[kind] / n if n else 0.0,
                                           tuple(examples[kind])))
        if _NAME_COLUMN.match(str(col).strip()):
            filled = int(frame[col].notna().sum())
            sample = [f"{str(v)[:1]}***" for v in frame[col].dropna().astype(str).unique()[:MAX_EXAMPLES]]
            findings.append(PIIFinding(str(col), "person_name", filled, filled / n if n else 0.0, tuple(sample)))
    return PIIScanResult(tuple(findings), n, len(frame.columns))
