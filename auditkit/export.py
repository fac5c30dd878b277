"""CSV and XLSX exports safe to open in a spreadsheet: cells that a spreadsheet would run as a formula are neutralised."""
from __future__ import annotations

import io
import math
import numbers

import numpy as np
import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

def neutralise(value: object) -> object:
    """Prefix a text cell starting with = + - @ tab or CR with an apostrophe; other values pass unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy with every header and every text cell of a non-numeric column neutralised."""
    out = frame.copy()
    out.columns = [neutralise(str(c)) for c in out.columns]
    for col in out.columns:
        if not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    return out


def safe_csv(frame: pd.DataFrame) -> bytes:
    """The frame as UTF-8 CSV (RFC 4180 line ends) with every text cell and header neutralised.

    With CRLF line ends a field holding a CR or LF is quoted, so no cell can start a new row (and a formula).
    """
    return _neutralised(frame).to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def _xlsx_value(value: object) -> object:
    """A cell value stored as data: numbers and booleans as they are, missing values as empty cells, everything
    else (infinities included) as neutralised text without the control characters XLSX cannot hold."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(float(value)):
        return float(value)
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return None
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", str(neutralise(str(value))))


def safe_xlsx(frame: pd.DataFrame, *, sheet: str = "data") -> bytes:
    """The frame as an XLSX workbook (one sheet): headers and text cells neutralised as in `safe_csv` and stored
    as text, numbers as numbers; no cell is ever a formula."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet[:31])

    def row(values: list[object]) -> list[WriteOnlyCell]:
        cells = []
        for value in values:
            cell = WriteOnlyCell(ws, value=_xlsx_value(value))
            if isinstance(cell.value, str):
                cell.data_type = "s"
            cells.append(cell)
        return cells

    ws.append(row([str(c) for c in frame.columns]))
    for values in frame.itertuples(index=False, name=None):
        ws.append(row(list(values)))
    buf = io.BytesIO()
    book.save(buf)
    return buf.getvalue()
