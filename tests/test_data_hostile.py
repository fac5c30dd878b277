"""Hostile datasets, second round: Parquet categorical and time-zone columns, malformed pandas metadata, JSONL keys
added after line 1, a group called "None", look-alike group names and too many groups."""
import io
import json
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from auditkit.config import Settings
from auditkit.data.io import read_table
from auditkit.data.lookalike import look_alike_groups
from auditkit.data.spec import AuditSpec
from auditkit.data.validate import validate_dataset
from auditkit.errors import DataValidationError
from auditkit.prepare import load_dataset

MALFORMED_PANDAS = ("the Parquet file's pandas metadata (the 'pandas' schema entry) is malformed{}. "
                    "Fix: re-export the table, e.g. with pandas DataFrame.to_parquet, or without that entry.")


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _frame() -> pd.DataFrame:
    return pd.DataFrame({
        "sex": pd.Categorical(["f", "m", "f", "m"]),
        "seen": pd.to_datetime(["2024-03-01 10:00", "2024-03-02 11:30", None, "2024-03-04 00:00"]).tz_localize("Europe/Berlin"),
        "x": [0.5, 1.5, 2.5, 3.5],
        "y": [0, 1, 0, 1]})


def test_categorical_and_time_zone_columns_are_read_as_plain_values():
    buffer = io.BytesIO()
    _frame().to_parquet(buffer)
    frame = read_table(buffer.getvalue(), name="d.parquet")
    assert frame["sex"].dtype == object and frame["sex"].tolist() == ["f", "m", "f", "m"]
    assert frame["seen"].tolist() == ["2024-03-01 10:00:00+01:00", "2024-03-02 11:30:00+01:00", None,
                                      "2024-03-04 00:00:00+01:00"]
    ds = validate_dataset(frame, AuditSpec(target="y", sensitive=("sex",), features=("x",)), needs_features=True)
    assert sorted(ds.frame["sex"].unique()) == ["f", "m"]
    with pytest.raises(DataValidationError) as err:
        validate_dataset(frame, AuditSpec(target="y", sensitive=("sex",), features=("x", "seen")), needs_features=True)
    assert str(err.value).startswith("feature 'seen' must be numeric and finite; row 1 holds '2024-03-01 10:00:00+01:00'.")
    with pytest.raises(DataValidationError, match=r"sensitive attribute 'seen' has 1 empty or NaN values \(first at row 3\)"):
        validate_dataset(frame, AuditSpec(target="y", sensitive=("seen",), features=("x",)))


@pytest.mark.parametrize("metadata, detail", [
    (b"{not json", ""),
    (b"[1, 2]", ""),
    (b'{"columns": 5}', ""),
    (b'{"columns": [1]}', ""),
    (b'{"columns": [], "index_columns": ["missing_column"], "column_indexes": []}', " (KeyError: 'missing_column')"),
    (b'{"columns": [{}], "index_columns": [], "column_indexes": []}', " (KeyError: 'name')"),
])
def test_malformed_pandas_metadata_gets_one_message(metadata, detail):
    table = pa.Table.from_pandas(_frame(), preserve_index=False).replace_schema_metadata({b"pandas": metadata})
    with pytest.raises(DataValidationError) as err:
        read_table(_parquet(table), name="d.parquet")
    assert str(err.value) == MALFORMED_PANDAS.format(detail)


def test_jsonl_lines_adding_thousands_of_keys_are_refused_naming_the_line():
    lines = [json.dumps({"y": i % 2, "g": "a"}) for i in range(3)]
    lines.append(json.dumps({"y": 1, "g": "b", **{f"k{i}": i for i in range(5000)}}))
    with pytest.raises(DataValidationError) as err:
        read_table("\n".join(lines).encode(), name="d.jsonl")
    assert str(err.value) == ("line 4 of the JSONL brings the number of distinct keys to 5002, over the 5000 column "
                              "limit. Fix: give every line the same keys.")
    few = lines[:3] + [json.dumps({"y": 1, "g": "b", "note": "x"})]
    assert read_table("\n".join(few).encode(), name="d.jsonl").columns.tolist() == ["y", "g", "note"]


def test_a_group_called_none_is_a_group_like_na(tmp_path):
    path = tmp_path / "d.csv"
    rows = [f"{i % 2},{g}" for i, g in enumerate(["None", "NA", "null", "nan", "x"] * 8)]
    path.write_text("y,g\n" + "\n".join(rows) + "\n")
    ds = load_dataset(path, AuditSpec(target="y", sensitive=("g",)))
    assert ds.frame["g"].value_counts().to_dict() == {"None": 8, "NA": 8, "null": 8, "nan": 8, "x": 8}
    frame = pd.DataFrame({"y": [0, 1, 0, 1], "g": ["None", None, "a", "a"]})
    with pytest.raises(DataValidationError, match=r"sensitive attribute 'g' has 1 empty or NaN values \(first at row 2\)"):
        validate_dataset(frame, AuditSpec(target="y", sensitive=("g",)))


def test_look_alike_group_names_are_warned_naming_both_spellings():
    frame = pd.DataFrame({"y": [0, 1] * 30, "sex": ["male", "female", "m\u0430le", "ma\u200ble", "Male", "female"] * 10})
    ds = validate_dataset(frame, AuditSpec(target="y", sensitive=("sex",)), settings=Settings(min_group_size=1))
    assert list(ds.warnings) == [
        "groups 'male' and 'ma\\u200ble' of 'sex' look alike but are spelled differently (U+200B ZERO WIDTH SPACE); "
        "they are audited as separate groups. Fix: correct the spelling in the data if they are the same group.",
        "groups 'male' and 'm\u0430le' of 'sex' look alike but are spelled differently (U+0430 CYRILLIC SMALL LETTER A); "
        "they are audited as separate groups. Fix: correct the spelling in the data if they are the same group."]
    assert sorted(ds.frame["sex"].unique()) == sorted({"male", "female", "m\u0430le", "ma\u200ble", "Male"})
    assert look_alike_groups(["Zoë", "Zoe", "\u039fslo", "Oslo"], "city") == [
        "groups 'Oslo' and 'Οslo' of 'city' look alike but are spelled differently (U+039F GREEK CAPITAL LETTER OMICRON); "
        "they are audited as separate groups. Fix: correct the spelling in the data if they are the same group."]


def test_fifty_thousand_groups_are_one_message_quickly(monkeypatch):
    frame = pd.DataFrame({"y": [0, 1] * 25_000, "id": [f"person-{i}" for i in range(50_000)], "sex": ["f", "m"] * 25_000})
    start = time.perf_counter()
    with pytest.raises(DataValidationError) as err:
        validate_dataset(frame, AuditSpec(target="y", sensitive=("sex", "id")))
    assert time.perf_counter() - start < 10
    assert str(err.value) == ("sensitive attribute 'id' has 50000 distinct groups, over the 1000 limit "
                              "(AUDITKIT_MAX_GROUPS); per-group metrics of so many groups say nothing. Fix: choose a "
                              "categorical column, bin this one into fewer groups, or raise AUDITKIT_MAX_GROUPS.")
    monkeypatch.setenv("AUDITKIT_MAX_GROUPS", "60000")
    ds = validate_dataset(frame.iloc[:2000], AuditSpec(target="y", sensitive=("id",)))
    assert len(ds.warnings) == 2000 and ds.warnings[0].startswith("group 'person-0' of 'id' has only 1 rows")
