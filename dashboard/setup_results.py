"""The Setup page's cached results, shared by every session.

They live in a module of their own: a page script runs again on every visit, and Streamlit's cache decorators
read their function's source each time they run (about 2 ms each); an imported module runs them once.
"""
from __future__ import annotations

import pandas as pd
import streamlit as st

from auditkit.data.io import read_table
from dashboard.shared import settings


@st.cache_data(max_entries=16, show_spinner="Reading the file ...")
def read_columns(path: str) -> tuple[list[str], list[str]]:
    """All column names, and the names of those that look numeric in the first rows (the default model inputs)."""
    frame = read_table(path, settings=settings())
    head = frame.head(1000)
    numeric = [str(c) for c in frame.columns if pd.to_numeric(head[c], errors="coerce").notna().all()]
    return [str(c) for c in frame.columns], numeric
