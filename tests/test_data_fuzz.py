"""Arbitrary bytes never crash the readers: they give a table or a DataValidationError."""
import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

from auditkit.data.io import read_table
from auditkit.errors import DataValidationError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
csv_text = st.lists(st.lists(st.text(alphabet=st.sampled_from('ab,"\n\r\t;é0 '), max_size=6), min_size=1, max_size=4),
                    min_size=1, max_size=6).map(lambda rows: "\n".join(",".join(r) for r in rows))


def outcome(raw: bytes, name: str):
    try:
        return read_table(raw, name=name)
    except DataValidationError as e:
        assert str(e)
        return None


@FUZZ
@given(st.binary(max_size=300), st.sampled_from(["d.csv", "d.jsonl", "d.parquet"]))
def test_random_bytes(raw, name):
    result = outcome(raw, name)
    assert result is None or isinstance(result, pd.DataFrame)


@FUZZ
@given(csv_text)
def test_csv_like_text(text):
    result = outcome(text.encode(), "d.csv")
    if result is not None:
        assert len(result.columns) == len(set(result.columns))


@FUZZ
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]),
                                st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=5), st.none()),
                                max_size=3), max_size=5))
def test_jsonl_records(records):
    import json

    raw = "\n".join(json.dumps(r) for r in records).encode()
    result = outcome(raw, "d.jsonl")
    assert result is None or len(result) == sum(1 for _ in records)
