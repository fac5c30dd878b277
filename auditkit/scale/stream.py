"""Reading a large CSV or Parquet file (or a folder of them) in chunks of rows, in file order, in bounded memory.

CSV cells are read as text, as `auditkit.data.io.read_table` reads them (a group called "NA" stays "NA"), so each
chunk goes through the same typing as the in-memory engine.
"""
from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Iterator, Literal

import pandas as pd

from auditkit.errors import DataValidationError

SourceFormat = Literal["csv", "parquet"]
_SUFFIXES: dict[str, SourceFormat] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def source_files(path: str | Path) -> tuple[list[Path], SourceFormat]:
    """The data files a path names (the file itself, or a folder's .csv/.parquet files in sorted order) and their format."""
    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES)
    elif root.is_file():
        files = [root]
    else:
        raise DataValidationError(f"dataset '{root}' does not exist. Fix: check the path.")
    formats = {_SUFFIXES.get(p.suffix.lower()) for p in files}
    if not files or None in formats:
        raise DataValidationError(f"'{root}' holds no .csv or .parquet files. Fix: the chunked and Ray engines read "
                                  "CSV or Parquet (one file, or a folder of files of one format).")
    if len(formats) > 1:
        raise DataValidationError(f"'{root}' mixes CSV and Parquet files. Fix: keep one format per folder.")
    return files, formats.pop()  # type: ignore[return-value]


def source_columns(files: list[Path], fmt: SourceFormat) -> list[str]:
    """The column names of the first file (every file of a folder must share them)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if fmt == "parquet":
        return list(pq.read_schema(files[0]).names)
    with pcsv.open_csv(files[0], read_options=pcsv.ReadOptions(block_size=1 << 16)) as reader:
        return list(reader.schema.names)


def csv_convert_options(columns: list[str]):
    """pyarrow CSV options: every cell as text, nothing read as missing, only `columns`."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    return pcsv.ConvertOptions(column_types={c: pa.string() for c in columns}, strings_can_be_null=False,
                               quoted_strings_can_be_null=False, include_columns=columns)


def iter_chunks(path: str | Path, columns: list[str], *, chunk_rows: int) -> Iterator[pd.DataFrame]:
    """DataFrames of exactly `chunk_rows` rows (the last one shorter) over the files `path` names, in order.

    Only `columns` are read. Memory holds about one chunk plus one reader block at a time.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    files, fmt = source_files(path)
    pending: list[pa.RecordBatch] = []
    held = 0
    for file in files:
        if fmt == "parquet":
            batches = pq.ParquetFile(file).iter_batches(batch_size=min(chunk_rows, 65_536), columns=columns)
        else:
            batches = pcsv.open_csv(file, read_options=pcsv.ReadOptions(block_size=16 << 20),
                                    convert_options=csv_convert_options(columns))
        try:
            for batch in batches:
                pending.append(batch)
                held += batch.num_rows
                while held >= chunk_rows:
                    table = pa.Table.from_batches(pending).combine_chunks()
                    yield table.slice(0, chunk_rows).select(columns).to_pandas()
                    rest = table.slice(chunk_rows)
                    pending, held = rest.to_batches(), rest.num_rows
        except (pa.ArrowInvalid, OSError) as e:
            raise DataValidationError(f"'{file.name}' cannot be read ({e}). Fix: repair or re-export the file.") from None
    if held:
        yield pa.Table.from_batches(pending).select(columns).to_pandas()


def sample_rows(path: str | Path, columns: list[str], *, total: int, rows: int, chunk_rows: int,
                seed: int = 0) -> pd.DataFrame:
    """A seeded random sample of `rows` of the `total` rows (kept in file order), read in one pass of chunks."""
    import numpy as np

    picked = np.sort(np.random.default_rng(seed).choice(total, size=min(rows, total), replace=False))
    parts, start = [], 0
    for chunk in iter_chunks(path, columns, chunk_rows=chunk_rows):
        lo, hi = np.searchsorted(picked, [start, start + len(chunk)])
        if hi > lo:
            parts.append(chunk.iloc[picked[lo:hi] - start])
        start += len(chunk)
        if hi == len(picked):
            break
    return pd.concat(parts, ignore_index=True)


class ParquetSink:
    """Frames appended to a temporary Parquet file that replaces `target` only when the block ends without an
    error and something was written; a failed or interrupted run leaves no partial file. No target: writes nothing."""

    def __init__(self, target: Path | None):
        self.target = target
        self.tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp") if target is not None else None
        self.writer = None

    def write(self, frame: pd.DataFrame) -> None:
        if self.tmp is None:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(frame, preserve_index=False)
        self.writer = self.writer or pq.ParquetWriter(self.tmp, table.schema)
        self.writer.write_table(table)

    def __enter__(self) -> "ParquetSink":
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.writer is not None:
            self.writer.close()
            if exc_type is None:
                os.replace(self.tmp, self.target)
        if self.tmp is not None and self.tmp.exists():
            self.tmp.unlink()
