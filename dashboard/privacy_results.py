"""The Privacy page's cached results, shared by every session.

They live in a module of their own: a page script runs again on every visit, and Streamlit's cache decorators
read their function's source each time they run (about 2 ms each); an imported module runs them once.
"""
from __future__ import annotations

import streamlit as st

from auditkit.context import AuditContext
from auditkit.privacy.accounting import epsilon_spent, noise_for_epsilon
from auditkit.privacy.results import PrivacyReport
from auditkit.privacy.section import privacy_report


@st.cache_data(max_entries=256, show_spinner=False)
def cached_epsilon(sigma: float, q: float, steps: int, delta: float, accountant: str) -> float:
    return epsilon_spent(sigma, q, steps, delta=delta, accountant=accountant)


@st.cache_data(max_entries=256, show_spinner="Searching for the noise multiplier ...")
def cached_noise(eps: float, q: float, steps: int, delta: float, accountant: str) -> float:
    return noise_for_epsilon(eps, q, steps, delta=delta, accountant=accountant)


@st.cache_resource(max_entries=8, show_spinner="Running the privacy checks ...")
def cached_section(key: str, _ctx: AuditContext) -> PrivacyReport:
    """The audit's privacy report (kept on its context when the audit built it), shared by every session."""
    return privacy_report(_ctx)
