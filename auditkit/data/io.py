"""Read CSV, Parquet and JSONL tables from a path or bytes, strictly, without writing anything."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from auditkit.config import Settings
from auditkit.errors import DataValidationError

Format = Literal["csv", "parquet", "jsonl"]
_EXTENSIONS: dict[str, Format] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_MAX_JSON_DEPTH = 32


def read_table(source: str | Path | bytes, *, fmt: Format | None = None, name: str = "",
               settings: Settings | None = None) -> pd.DataFrame:
    """Read a table. CSV cells stay strings (a group called "NA" stays "NA"); typing happens in validation.

    `source` is a path or the file's bytes (`name` then supplies the extension). Raises DataValidationError.
    """
    settings = settings or Settings.from_env()
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = name or path.name
        if not path.is_file():
            raise DataValidationError(f"dataset file '{path}' does not exist. Fix: check the path.")
        _check_size(path.stat().st_size, settings)
        raw = path.read_bytes()
    else:
        raw = bytes(source)
        _check_size(len(raw), settings)
    fmt = fmt or _format_from_name(name)
    if not raw.strip():
        raise DataValidationError(f"the file {name or ''} is empty. Fix: upload a file with a header row and data rows.".replace("  ", " "))
    _refuse_foreign_content(raw, fmt)
    reader = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}[fmt]
    frame = reader(raw, settings)
    if frame.empty:
        raise DataValidationError("the file has a header but no rows. Fix: upload a file with data rows.")
    return frame


def _check_size(size: int, settings: Settings) -> None:
    if size > settings.max_file_mb * 1024 * 1024:
        raise DataValidationError(
            f"the file is {size / 2**20:.0f} MB, over the {settings.max_file_mb} MB limit. "
            "Fix: sample the rows, or raise AUDITKIT_MAX_FILE_MB.")


def _format_from_name(name: str) -> Format:
    suffix = Path(name).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise DataValidationError(
            f"cannot tell the format of '{name}'. Fix: use a .csv, .parquet or .jsonl file.")
    return _EXTENSIONS[suffix]


def _refuse_foreign_content(raw: bytes, fmt: Format) -> None:
    head = raw[:8]
    if head.startswith(b"PK\x03\x04"):
        raise DataValidationError(f"the {fmt} file is really a zip archive. Fix: unpack it and upload the table itself.")
    if head[:1] == b"\x80" and fmt != "parquet":
        raise DataValidationError(f"the {fmt} file is really a Python pickle, which is never loaded. Fix: export the table as CSV, Parquet or JSONL.")
    is_parquet = raw[:4] == b"PAR1" and raw[-4:] == b"PAR1"
    if fmt == "parquet" and not is_parquet:
        raise DataValidationError("the file is not a valid Parquet file (missing PAR1 markers; it may be truncated). Fix: re-export it.")
    if fmt != "parquet" and is_parquet:
        raise DataValidationError(f"the file named as {fmt} is really Parquet. Fix: rename it to .parquet.")


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataValidationError(
            f"the file is not UTF-8: byte {e.start} (0x{raw[e.start]:02x}) on line {line} cannot be decoded. "
            "Fix: save the file as UTF-8.") from None


def _read_csv(raw: bytes, settings: Settings) -> pd.DataFrame:
    text = _decode(raw)
    header = _check_rows(text, settings)
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False, engine="c")
    except pd.errors.ParserError as e:
        raise DataValidationError(f"the CSV is malformed: {_parser_detail(e)}. Fix: every row needs exactly {len(header)} fields.") from None


def _check_rows(text: str, settings: Settings) -> list[str]:
    """Check the header, that every row has the header's number of fields, and field sizes; return the header."""
    previous = csv.field_size_limit()
    csv.field_size_limit(settings.max_field_chars)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, [])
        _check_header(header, settings)
        width = len(header)
        for row in reader:
            if row and len(row) != width:
                raise DataValidationError(f"line {reader.line_num} of the CSV has {len(row)} fields, "
                                          f"but the header has {width}. Fix: repair or remove that line.")
    except csv.Error as e:
        raise DataValidationError(f"line {reader.line_num} of the CSV cannot be parsed ({e}; the limit is "
                                  f"{settings.max_field_chars} characters per field). Fix: shorten or quote that field.") from None
    finally:
        csv.field_size_limit(previous)
    return header


def _parser_detail(error: Exception) -> str:
    message = str(error).strip().splitlines()[-1]
    return message.replace("Error tokenizing data. C error: ", "").rstrip(".")


def _check_header(columns: list[str], settings: Settings) -> None:
    if len(columns) > settings.max_columns:
        raise DataValidationError(f"the file has {len(columns)} columns, over the {settings.max_columns} limit. Fix: keep only the columns the audit needs.")
    seen: set[str] = set()
    duplicates = sorted({c for c in columns if c in seen or seen.add(c)})
    if duplicates:
        raise DataValidationError(f"duplicate column names: {', '.join(map(repr, duplicates))}. Fix: give every column a unique name.")
    if any(not str(c).strip() for c in columns):
        raise DataValidationError("a column has an empty name. Fix: name every column in the header.")


def _read_parquet(raw: bytes, settings: Settings) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = pa.BufferReader(raw)
    try:
        meta = pq.read_metadata(buffer)
    except (pa.ArrowException, OSError) as e:
        raise DataValidationError(f"the Parquet file is invalid ({e}). Fix: re-export it.") from None
    _check_header(list(meta.schema.names), settings)
    declared = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    budget = 20 * settings.max_file_mb * 2**20
    if declared > budget or meta.num_rows > 50_000_000:
        raise DataValidationError(
            f"the Parquet metadata claims {meta.num_rows} rows and {declared / 2**20:.0f} MB uncompressed, "
            f"over the {budget / 2**20:.0f} MB budget. Fix: split the file or sample it.")
    try:
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowException, OSError, ValueError) as e:
        raise DataValidationError(f"the Parquet file cannot be read ({e}). Fix: re-export it with plain column types.") from None
    metadata = table.schema.metadata or {}
    _check_pandas_metadata(metadata)
    try:
        frame = table.to_pandas()
    except (pa.ArrowException, ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
        if b"pandas" in metadata:
            raise DataValidationError(_MALFORMED_PANDAS.format(f" ({type(e).__name__}: {e})")) from None
        raise DataValidationError(f"the Parquet file cannot be read ({type(e).__name__}: {e}). "
                                  "Fix: re-export it with plain column types.") from None
    for name in frame.columns:
        frame[name] = _plain_column(frame[name])
    return frame


_MALFORMED_PANDAS = ("the Parquet file's pandas metadata (the 'pandas' schema entry) is malformed{}. "
                     "Fix: re-export the table, e.g. with pandas DataFrame.to_parquet, or without that entry.")


def _check_pandas_metadata(metadata: dict[bytes, bytes]) -> None:
    """The pandas metadata pyarrow follows to rebuild a frame must be a JSON object with a list of column objects."""
    raw = metadata.get(b"pandas")
    if raw is None:
        return
    try:
        meta = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError, UnicodeDecodeError):
        meta = None
    fields = ("columns", "index_columns", "column_indexes")
    if not (isinstance(meta, dict) and all(isinstance(meta.get(k, []), list) for k in fields)
            and all(isinstance(c, dict) for k in fields if k != "index_columns" for c in meta.get(k, []))):
        raise DataValidationError(_MALFORMED_PANDAS.format(""))


def _plain_column(column: pd.Series) -> pd.Series:
    """Categorical columns as their values; date and time columns (time-zone aware or not) as ISO 8601 text, so a
    group is its printed value and a date given as a feature gets the non-numeric message."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.astype(object)
    if pd.api.types.is_datetime64_any_dtype(column.dtype) or pd.api.types.is_timedelta64_dtype(column.dtype):
        return column.astype(str).astype(object).where(column.notna(), None)
    return column


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)!r}")
    return dict(pairs)


def _read_jsonl(raw: bytes, settings: Settings) -> pd.DataFrame:
    text = _decode(raw)
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line.count("[") + line.count("{") > _MAX_JSON_DEPTH * 64:
            raise DataValidationError(f"line {number} of the JSONL is nested too deeply. Fix: one flat object per line.")
        try:
            record = json.loads(line, parse_constant=_reject_constant, object_pairs_hook=_no_duplicates)
        except (ValueError, RecursionError) as e:
            raise DataValidationError(f"line {number} of the JSONL is not valid: {e}. Fix: one flat JSON object per line.") from None
        if not isinstance(record, dict) or any(isinstance(v, (dict, list)) for v in record.values()):
            raise DataValidationError(f"line {number} of the JSONL is not a flat object. Fix: one flat JSON object per line.")
        records.append(record)
        if len(records) == 1:
            _check_header(list(record), settings)
            keys = set(record)
        elif not keys.issuperset(record):
            keys.update(record)
            if len(keys) > settings.max_columns:
                raise DataValidationError(f"line {number} of the JSONL brings the number of distinct keys to {len(keys)}, "
                                          f"over the {settings.max_columns} column limit. Fix: give every line the same keys.")
    return pd.DataFrame.from_records(records)
