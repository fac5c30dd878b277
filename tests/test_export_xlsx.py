"""XLSX export: formula injection neutralised exactly as in the CSV export, numbers kept as numbers."""
from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
from streamlit.testing.v1 import AppTest

from auditkit.export import FORMULA_PREFIXES, neutralise, safe_csv, safe_xlsx
from auditkit.store import AuditStore

HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"click\")", "+1+1", "-2+3", "@SUM(A1:A2)", "\tcmd", "\r=1",
           "=cmd|' /C calc'!A0", "plain", "a=b"]
PAGES = Path(__file__).resolve().parents[1] / "pages"


def _xml(text: str) -> str:
    """What a text cell reads back as: XML turns a carriage return into a line feed."""
    return text.replace("\r", "\n")


def _cells(data: bytes) -> list[list[openpyxl.cell.Cell]]:
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [list(row) for row in book.active.iter_rows()]


def test_no_cell_is_a_formula_and_hostile_text_comes_back_neutralised():
    frame = pd.DataFrame({"group": HOSTILE, "count": np.arange(len(HOSTILE), dtype=np.int64),
                          "rate": np.linspace(-0.5, 0.5, len(HOSTILE))})
    rows = _cells(safe_xlsx(frame))
    assert all(cell.data_type != "f" for row in rows for cell in row)
    assert [c.value for c in rows[0]] == ["group", "count", "rate"]
    body = rows[1:]
    assert [r[0].value for r in body] == [_xml(neutralise(v)) for v in HOSTILE]
    assert [r[0].value for r in body][:7] == [_xml("'" + v) for v in HOSTILE[:7]]
    assert [r[0].value for r in body][7:] == ["plain", "a=b"]
    assert all(r[0].data_type == "s" for r in body)
    assert [r[1].value for r in body] == list(range(len(HOSTILE)))
    assert all(r[1].data_type == "n" and r[2].data_type == "n" for r in body)
    assert np.allclose([r[2].value for r in body], frame["rate"])
    assert body[0][2].value == -0.5  # a negative number is a number, not text to neutralise


def test_xlsx_and_csv_neutralise_the_same_cells():
    frame = pd.DataFrame({"=name": HOSTILE, "value": range(len(HOSTILE))})
    from_csv = list(csv.reader(io.StringIO(safe_csv(frame).decode("utf-8"), newline="")))
    rows = _cells(safe_xlsx(frame))
    assert [c.value for c in rows[0]] == from_csv[0] == ["'=name", "value"]
    assert [r[0].value for r in rows[1:]] == [_xml(r[0]) for r in from_csv[1:]]
    assert [r[1].value for r in rows[1:]] == [int(r[1]) for r in from_csv[1:]]


def test_a_line_break_inside_a_csv_cell_cannot_start_a_row():
    text = safe_csv(pd.DataFrame({"name": ["ok\r=1+1", "ok\n@SUM(A1)", "x"], "n": [1, 2, 3]})).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows == [["name", "n"], ["ok\r=1+1", "1"], ["ok\n@SUM(A1)", "2"], ["x", "3"]]
    assert text.startswith("name,n\r\n\"ok\r=1+1\",1\r\n")


def test_no_formula_in_the_raw_sheet_xml():
    data = safe_xlsx(pd.DataFrame({"g": ["=1+1", "@x"], "n": [1, 2]}))
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        sheet = next(z.read(n) for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
    assert b"<f>" not in sheet and b"<f " not in sheet


def test_missing_infinite_boolean_and_control_character_values():
    frame = pd.DataFrame({"x": [1.5, np.nan, np.inf, -np.inf], "flag": [True, False, True, np.bool_(False)],
                          "text": ["ok", None, "a\x00b\x07c", "-inf"]})
    body = _cells(safe_xlsx(frame))[1:]
    assert [r[0].value for r in body] == [1.5, None, "inf", "'-inf"]
    assert [r[1].value for r in body] == [True, False, True, False]
    assert [r[2].value for r in body] == ["ok", None, "a\ufffdb\ufffdc", "'-inf"]


def test_every_prefix_is_neutralised():
    frame = pd.DataFrame({"v": [p + "1" for p in FORMULA_PREFIXES]})
    assert [r[0].value for r in _cells(safe_xlsx(frame))[1:]] == [_xml("'" + p + "1") for p in FORMULA_PREFIXES]


def test_history_page_offers_csv_and_xlsx_of_hostile_audit_names(workspace):
    AuditStore().record_audit({"inputs": {"rows": 1}, "predictions": {"accuracy": 0.5}}, "=HYPERLINK(\"x\")")
    at = AppTest.from_file(str(PAGES / "history.py"), default_timeout=60).run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["This list (CSV)", "This list (XLSX)"]


def test_report_page_offers_the_scorecard_as_csv_and_xlsx():
    at = AppTest.from_file(str(PAGES / "report.py"), default_timeout=60)
    at.session_state["audit"] = {"inputs": {"rows": 10}, "predictions": {"accuracy": 0.8, "positive_rate": 0.3},
                                 "fairness": {"sex": {"by_group": {}, "demographic_parity_difference": 0.2}}}
    at.run()
    assert not at.exception
    labels = [b.proto.label for b in at.get("download_button")]
    assert {"Scorecard (CSV)", "Scorecard (XLSX)"} <= set(labels)
