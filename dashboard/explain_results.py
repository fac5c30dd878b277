"""The Explanations page's results, shared read-only by every session.

They live in a module of their own: a page script runs again on every visit, and Streamlit's cache decorators
read their function's source each time they run (about 2 ms each); an imported module runs them once.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import streamlit as st

from auditkit.context import AuditContext
from auditkit.explain.attention import AttentionMaps
from auditkit.explain.base import Attribution, TokenAttribution
from auditkit.explain.tabular import explain_row
from auditkit.explain.text import attention_row, explain_text_row, integrated_gradients_row


@st.cache_resource
def finished_runs() -> tuple[OrderedDict, threading.Lock]:
    """Complete explanations by content key, shared by every session (the 8 most recently used); runs that were
    stopped early stay in their own session only."""
    return OrderedDict(), threading.Lock()


def cached_run(key: tuple) -> Any:
    store, lock = finished_runs()
    with lock:
        if key in store:
            store.move_to_end(key)
        return store.get(key)


def keep_run(key: tuple, result: Any) -> None:
    store, lock = finished_runs()
    with lock:
        store[key] = result
        while len(store) > 8:
            store.popitem(last=False)


@st.cache_data(max_entries=64, show_spinner="Explaining the row ...")
def row_explanation(data_sha256: str, model_sha256: str, row: int, background_size: int,
                    _ctx: AuditContext) -> Attribution:
    return explain_row(_ctx, row, background_size=background_size)


@st.cache_data(max_entries=64, show_spinner="Explaining the text ...")
def text_row(data_sha256: str, model_sha256: str, row: int, _ctx: AuditContext) -> tuple[TokenAttribution, bool]:
    return explain_text_row(_ctx, row)


@st.cache_data(max_entries=64, show_spinner="Reading attention ...")
def text_attention(data_sha256: str, model_sha256: str, row: int, _ctx: AuditContext) -> AttentionMaps:
    return attention_row(_ctx, row)


@st.cache_data(max_entries=64, show_spinner="Running Integrated Gradients ...")
def text_ig(data_sha256: str, model_sha256: str, row: int, _ctx: AuditContext) -> tuple[TokenAttribution, bool]:
    return integrated_gradients_row(_ctx, row)
