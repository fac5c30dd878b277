"""The Setup page's cached results, shared by every session.

They live in a module of their own: a page script runs again on every visit, and Streamlit's cache decorators
read their function's source each time they run (about 2 ms each); an imported module runs them once.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from auditkit.data.io import read_table
from auditkit.data.roles import likely_prediction_column
from dashboard.shared import settings

HEAD_ROWS = 1000  # rows read to judge a column's type


@st.cache_data(max_entries=16, show_spinner="Reading the file ...")
def head_rows(path: str) -> pd.DataFrame:
    """The first rows of a stored dataset (every column)."""
    return read_table(path, settings=settings()).head(HEAD_ROWS)


@st.cache_data(max_entries=16, show_spinner=False)
def read_columns(path: str) -> tuple[list[str], list[str]]:
    """All column names, and the names of those that look numeric in the first rows (the default model inputs)."""
    head = head_rows(path)
    numeric = [str(c) for c in head.columns if pd.to_numeric(head[c], errors="coerce").notna().all()]
    return [str(c) for c in head.columns], numeric


@st.cache_data(max_entries=64, show_spinner=False)
def likely_prediction(path: str, target: str, exclude: tuple[str, ...]) -> str | None:
    """The column most likely holding the model's predictions (`auditkit.data.roles`), judged on the first rows."""
    return likely_prediction_column(head_rows(path), target, exclude)
