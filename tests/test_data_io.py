import io
import json
import pickle
import zipfile

import pandas as pd
import pytest

from auditkit.config import Settings
from auditkit.data.io import read_table
from auditkit.errors import DataValidationError


def read(raw: bytes, name: str = "d.csv", **settings):
    return read_table(raw, name=name, settings=Settings(**settings) if settings else None)


def test_csv_keeps_na_group_and_strips_bom():
    frame = read("\ufeffgroup,y\nNA,1\nb,0\n".encode())
    assert list(frame.columns) == ["group", "y"]
    assert frame["group"].tolist() == ["NA", "b"]


def test_parquet_and_jsonl_read_the_same_table():
    df = pd.DataFrame({"a": [1.5, 2.0], "g": ["x", "y"]})
    buf = io.BytesIO()
    df.to_parquet(buf)
    assert read(buf.getvalue(), "d.parquet").equals(df)
    jsonl = "\n".join(json.dumps(r) for r in df.to_dict("records")).encode()
    assert read(jsonl, "d.jsonl").equals(df)


@pytest.mark.parametrize("raw, name, message", [
    (b"", "d.csv", "is empty"),
    (b"a,b\n", "d.csv", "no rows"),
    (b"a,a\n1,2\n", "d.csv", "duplicate column names: 'a'"),
    (b"a,b\n1,2\n3,4,5\n", "d.csv", "line 3 of the CSV has 3 fields, but the header has 2"),
    (b"a,b\n1,2\n3\n", "d.csv", "line 3 of the CSV has 1 fields"),
    ("a,b\n1,caf\u00e9\n".encode("cp1252"), "d.csv", "byte 9 (0xe9) on line 2"),
    (b"a\n1\n", "d.xlsx", "cannot tell the format"),
    (b'{"a": NaN}\n', "d.jsonl", "line 1 of the JSONL"),
    (b'{"a": 1}\n{"a": 1, "a": 2}\n', "d.jsonl", "line 2 of the JSONL is not valid: duplicate key 'a'"),
    (b'{"a": ' + b"9" * 5000 + b"}\n", "d.jsonl", "line 1 of the JSONL"),
    (b"[" * 100_000 + b"]" * 100_000 + b"\n", "d.jsonl", "line 1 of the JSONL is nested too deeply"),
    (b'{"a": {"b": 1}}\n', "d.jsonl", "not a flat object"),
    (b"PAR1garbagePAR1", "d.parquet", "Parquet file is invalid"),
    (b"PAR1garbage", "d.parquet", "missing PAR1 markers"),
])
def test_malformed_files_get_a_message_naming_the_problem(raw, name, message):
    with pytest.raises(DataValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read(raw, name)


def test_a_csv_that_is_really_a_zip_or_a_pickle_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("x.csv", "a\n1\n")
    with pytest.raises(DataValidationError, match="really a zip"):
        read(buf.getvalue())
    with pytest.raises(DataValidationError, match="really a Python pickle"):
        read(pickle.dumps({"a": 1}))


def test_size_limits_are_stated():
    with pytest.raises(DataValidationError, match="over the 1 MB limit"):
        read(b"a\n" + b"1\n" * 600_000, max_file_mb=1)
    with pytest.raises(DataValidationError, match="3 columns, over the 2 limit"):
        read(b"a,b,c\n1,2,3\n", max_columns=2)
    with pytest.raises(DataValidationError, match="line 2 of the CSV cannot be parsed.*limit is 10 characters"):
        read(b"a\n" + b"x" * 20 + b"\n", max_field_chars=10)


def test_parquet_whose_metadata_claims_too_much_is_refused_before_reading():
    df = pd.DataFrame({"a": ["x" * 990 + str(i) for i in range(30_000)]})
    buf = io.BytesIO()
    df.to_parquet(buf, compression="gzip")
    assert len(buf.getvalue()) < 2**20
    with pytest.raises(DataValidationError, match="MB uncompressed, over the 20 MB budget"):
        read(buf.getvalue(), "d.parquet", max_file_mb=1)


def test_reading_never_modifies_the_file(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,y\n1,0\n2,1\n")
    before = path.read_bytes()
    read_table(path)
    assert path.read_bytes() == before
