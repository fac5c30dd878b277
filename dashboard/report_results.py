"""The Report page's cached results, shared by every session.

They live in a module of their own: a page script runs again on every visit, and Streamlit's cache decorators
read their function's source each time they run (about 2 ms each); an imported module runs them once.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from auditkit.policy import Policy, load_policy, parse_policy
from auditkit.report import render_report


@st.cache_data(max_entries=32, show_spinner="Building the report ...")
def cached_report(key: str, fmt: str, _audit: dict[str, Any], _policy: Policy, overrides: dict[str, str],
                  signoffs: tuple[dict[str, Any], ...], trail: tuple[dict[str, Any], ...]) -> bytes:
    """A rendered report; `key` is the hash of the audit and the policy."""
    return render_report(_audit, fmt, policy=_policy, card_overrides=overrides, signoffs=signoffs, trail=trail)


@st.cache_resource(max_entries=16, show_spinner=False)
def cached_policy(text: str | None) -> Policy:
    """The shipped default policy (`None`) or edited YAML, parsed once and shared read-only by every session."""
    return load_policy(None) if text is None else parse_policy(text, source="edited policy")
