"""The only Streamlit glue shared by pages: session keys, the current audit, running an audit, showing errors and
sections that hold no result, and the progress of background jobs."""
from __future__ import annotations

import importlib
import io
import threading
import time
from dataclasses import dataclass
from typing import Any, Hashable

import numpy as np
import plotly.io as pio
import streamlit as st
from PIL import Image, ImageColor

from auditkit.chart_style import OKABE_ITO, TEMPLATE
from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.engine_registry import EngineSetting
from auditkit.errors import AuditkitError
from auditkit.families.handle import ModelHandle
from auditkit.hashing import params_hash
from auditkit.jobs import BackgroundJob, job_slot
from auditkit.markup import plain
from auditkit.outcome import Failed, Skipped, outcome_of
from auditkit.service import audit_and_record
from auditkit.store import AuditStore, StartupReport
from auditkit.store.engine import resolve_url

pio.templates["auditkit"] = TEMPLATE
pio.templates.default = "auditkit"  # every figure the pages make carries AuditKit's style

AUDIT = "audit"
CONTEXT = "audit_context"
AUDIT_ID = "audit_id"
PENDING = "pending_audit"
COHORT = "cohort_context"
# What the panels import beyond the audit itself: loaded in the background when the server starts (`warm_up`).
PANEL_MODULES = ("plotly.graph_objects", "auditkit.fairness.mitigation", "auditkit.fairness.counterfactual",
                 "auditkit.fairness.errors_analysis", "auditkit.explain.tabular", "auditkit.explain.text",
                 "auditkit.explain.attention", "auditkit.privacy.section", "auditkit.privacy.training",
                 "auditkit.energy.variants", "auditkit.report.html_report", "auditkit.report.pdf_report")


@dataclass(frozen=True)
class PendingAudit:
    """What the Run page will audit: stored file paths (content-addressed) and the column roles."""

    data_path: str
    data_name: str
    spec: AuditSpec
    model_path: str | None = None
    title: str = ""
    engine: str = "memory"  # a registered engine (auditkit.engines): memory, stream or ray
    ray_address: str | None = None


def settings() -> Settings:
    return Settings.from_env()


def current_context(*, filtered: bool = True) -> AuditContext | None:
    """The context of the audit shown in this session, or None.

    With a cohort filter on (`set_cohort`) and `filtered`, the cohort's context, announced by a banner with a
    button that shows every row again. An audit run in chunks is announced by a caption naming what its sample
    feeds.
    """
    ctx = st.session_state.get(CONTEXT)
    scale = (current_audit() or {}).get("scale") or {}
    if ctx is not None and scale.get("sample"):
        st.caption(f"This audit read {scale['rows']:,} rows in chunks ({scale['engine']} engine). Group metrics and "
                   f"disparities cover every row; charts that need single rows (thresholds, mitigation, error "
                   f"cohorts, explanations, privacy) use a seeded sample of {scale['sample']['rows']:,} rows.")
    cohort = st.session_state.get(COHORT)
    if not filtered or ctx is None or cohort is None:
        return ctx
    parent, _, sub = cohort
    if parent is not ctx:  # the filter belongs to another audit
        del st.session_state[COHORT]
        return ctx
    banner, clear = st.columns([5, 1], vertical_alignment="center")
    banner.info(f"Filtered to the cohort **{plain(sub.cohort)}**: {len(sub.frame):,} of {len(ctx.frame):,} rows. "
                "Every panel shows these rows only.", icon=":material/filter_alt:")
    clear.button("Show all rows", key="cohort_clear", on_click=clear_cohort)
    return sub


def audit_key(ctx: AuditContext) -> str:
    """Whose a result kept in session state is: the audit's data (a cohort's rows included), model and column
    roles. A result kept under it never shows on another audit."""
    return params_hash({"data": ctx.data_sha256, "model": ctx.model.sha256 if ctx.model else None,
                        "roles": ctx.spec.roles(), "extra": ctx.spec.extra})


def set_cohort(rows: Any, description: str) -> None:
    """Filter every panel to the rows where the boolean mask `rows` is true; the mask is over the rows shown now,
    so a cohort picked inside a cohort narrows it."""
    ctx = st.session_state[CONTEXT]
    rows = np.asarray(rows, dtype=bool)
    if (cohort := st.session_state.get(COHORT)) is not None and cohort[0] is ctx:
        _, outer, sub = cohort
        rows, description = _narrowed(outer, rows), f"{sub.cohort} and {description}"
    st.session_state[COHORT] = (ctx, rows, ctx.subset(rows, description))


def _narrowed(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """The mask over all rows of the rows picked by `inner` among those of `outer`."""
    rows = np.zeros_like(outer)
    rows[np.flatnonzero(outer)[inner]] = True
    return rows


def clear_cohort() -> None:
    """Show every row again."""
    st.session_state.pop(COHORT, None)


def selected_tab(labels: list[str], *, key: str) -> tuple[str, Any]:
    """Tabs whose content runs only when chosen: the chosen tab's label and container (the first at the start)."""
    tabs = st.tabs(labels, key=key, on_change="rerun")
    return next(((label, tab) for label, tab in zip(labels, tabs) if tab.open), (labels[0], tabs[0]))


def show_chart(fig: Any, **kwargs: Any) -> Any:
    """Draw a Plotly figure full width in its own template (AuditKit's style, the default for every figure the
    dashboard makes), not Streamlit's chart theme; returns what `st.plotly_chart` returns (the selection state with
    `on_select`)."""
    return st.plotly_chart(fig, theme=None, **({"width": "stretch"} | kwargs))


def opened(label: str, *, key: str) -> Any | None:
    """An expander whose contents are drawn only once a user opens it (a rerun), else None.

    Tables behind charts stay collapsed on most visits; not sending them keeps page switches fast.
    """
    box = st.expander(label, key=key, on_change="rerun")
    return box if box.open else None


def current_audit() -> dict[str, Any] | None:
    """The audit.json dict of the audit shown in this session, or None."""
    return st.session_state.get(AUDIT)


def show_empty_state() -> None:
    """Tell the user how to get an audit to look at."""
    st.info("No audit yet. Open the built-in demo on the Home page, or upload your own data on the Setup page.")
    col1, col2 = st.columns(2)
    if col1.button("Go to Home", key="empty_home"):
        st.switch_page("pages/home.py")
    if col2.button("Go to Setup", key="empty_setup"):
        st.switch_page("pages/setup.py")


def show_verdict(passed: bool | None, text: str) -> None:
    """An audit finding: a pass, fail or not-measured badge and its sentence (`text` is Markdown, escaped by the
    caller). Findings never use error boxes, which mean the tool hit a problem (`show_error`)."""
    label, color, icon = {True: ("Pass", "green", "check_circle"), False: ("Fail", "red", "cancel"),
                          None: ("Not measured", "gray", "help")}[passed]
    with st.container(border=True, horizontal=True, vertical_alignment="center"):
        st.badge(label, color=color, icon=f":material/{icon}:")
        st.markdown(text)


def show_error(error: AuditkitError) -> None:
    """Show a user-fixable problem as one error box; its text (which may quote the user's data) is shown literally,
    line by line."""
    st.error(f"**Problem:** {plain(error, lines=True)}")


def show_outcome(title: str, section: Any) -> bool:
    """When a section (an audit.json dict, or a typed result's part) holds no result, say so (a skipped one as a
    note, a failed one as a warning) and return True; otherwise show nothing and return False."""
    outcome = section if isinstance(section, (Skipped, Failed)) else outcome_of(section)
    if isinstance(outcome, Skipped):
        st.info(f"{title} was not run: {plain(outcome.reason, lines=True)}")
    elif isinstance(outcome, Failed):
        st.warning(f"{title} could not run: {plain(outcome.message, lines=True)}")
    return outcome is not None


def session_jobs(page: str) -> dict[Hashable, BackgroundJob]:
    """The background jobs this session started on `page`, by name (session state `<page>_jobs`); a job made for
    one audit is named with its `audit_key` (or a content key) so that it never shows on another."""
    return st.session_state.setdefault(f"{page}_jobs", {})


def job_text(job: BackgroundJob, unit: str) -> str:
    """A job's progress in words: how many of its `unit` are done."""
    if job.cancelled:
        return f"Stopping as soon as it can ({job.done:,} of {job.total:,} {unit} done) ..."
    if not job.total:
        return f"{job.label}: starting ..."
    return f"{job.label}: {job.done:,} of {job.total:,} {unit}"


def ended_job(page: str, name: Hashable, *, unit: str, stop_help: str | None = None,
              wait_s: float = 0.0) -> BackgroundJob | None:
    """The job `name` of `session_jobs(page)` once it has ended; None while it runs (or when there is none).

    A running job shows its progress bar, with a Stop button when `stop_help` is given (one stoppable job per page
    at a time): watched in this page run for up to `wait_s` seconds (session state `<page>_wait_s` overrides it),
    so short jobs need no polling, then refreshed every second by a fragment that reruns the page when the job
    ends. A job that failed is forgotten and its error raised: a user-fixable one as an `AuditkitError`, any other
    as it was.
    """
    jobs = session_jobs(page)
    job = jobs.get(name)
    if job is None:
        return None
    if job.running:
        _watch(job, page, unit, stop_help, float(st.session_state.get(f"{page}_wait_s", wait_s)))
    if job.running:
        _job_progress(page, name, unit, stop_help)
        return None
    if job.exception is not None or job.error:
        del jobs[name]
        if job.exception is not None:
            raise job.exception
        raise AuditkitError(job.error)
    return job


def _watch(job: BackgroundJob, page: str, unit: str, stop_help: str | None, seconds: float) -> None:
    """The job's progress (and Stop button) for up to `seconds` while it runs; a click on Stop reruns the page,
    which asks the job to stop."""
    if seconds <= 0:
        return
    slot = st.empty()
    with slot.container():
        bar = st.progress(job.fraction, text=job_text(job, unit))
        if stop_help is not None and st.button("Stop", key=f"{page}_stop", help=stop_help):
            job.cancel()
    deadline = time.monotonic() + seconds
    while job.running and time.monotonic() < deadline:
        bar.progress(job.fraction, text=job_text(job, unit))
        time.sleep(0.2)
    slot.empty()


@st.fragment(run_every=1.0)
def _job_progress(page: str, name: Hashable, unit: str, stop_help: str | None) -> None:
    """A running job's progress (and Stop button), refreshed every second; the whole page reruns once it ends."""
    job = session_jobs(page).get(name)
    if job is None or not job.running:
        st.rerun()
    st.progress(job.fraction, text=job_text(job, unit))
    if stop_help is not None and st.button("Stop", key=f"{page}_stop_polled", help=stop_help,
                                           disabled=job.cancelled):
        job.cancel()


@st.cache_resource(show_spinner=False)
def favicon(size: int = 64) -> bytes:
    """The browser tab's icon (PNG), a white check mark on a blue disc, drawn here so that no page asks an outside
    server for an icon."""
    y, x = np.mgrid[:size, :size] / (size - 1) * 2 - 1
    icon = np.zeros((size, size, 4), np.uint8)
    icon[x ** 2 + y ** 2 <= 1] = (*ImageColor.getrgb(OKABE_ITO[0]), 255)
    points = np.stack([x, y], axis=-1)
    for start, end in (((-0.5, 0.05), (-0.12, 0.42)), ((-0.12, 0.42), (0.52, -0.35))):
        a, b = np.array(start), np.array(end)
        t = np.clip(((points - a) @ (b - a)) / ((b - a) @ (b - a)), 0, 1)
        icon[np.linalg.norm(points - (a + t[..., None] * (b - a)), axis=-1) <= 0.11] = (255, 255, 255, 255)
    png = io.BytesIO()
    Image.fromarray(icon).save(png, format="PNG")
    return png.getvalue()


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Import the panels' libraries in a background thread, once per server process, so that the first visit of
    a panel does not wait for them."""
    thread = threading.Thread(target=lambda: [importlib.import_module(m) for m in PANEL_MODULES], daemon=True,
                              name="auditkit-warm-up")
    thread.start()
    return thread


@st.cache_resource(show_spinner="Opening the audit store ...")
def _open_store(url: str, home: str) -> tuple[AuditStore, StartupReport]:
    store = AuditStore(url, Settings.from_env())
    return store, store.startup_check()


def open_store() -> tuple[AuditStore, StartupReport]:
    """The audit store of this workspace, shared by sessions, with the start-up check it ran once per process
    (integrity, orphan and missing blobs, runs left half-way marked failed)."""
    current = settings()
    return _open_store(resolve_url(None, current), str(current.home))


@st.cache_resource(max_entries=8, show_spinner="Loading the model safely ...")
def cached_model(path: str, sha256_hint: str, allow_pickle_weights: bool = False) -> ModelHandle:
    """One model worker per checkpoint content, shared by every session (the model itself lives in the worker)."""
    return load_model(path, allow_pickle_weights=allow_pickle_weights, settings=settings())


def run_pending(pending: PendingAudit) -> None:
    """Run the pending audit with a progress bar; store the result in the session."""
    bar = st.progress(0.0, text="Checking the data and loading the model ...")
    engine = EngineSetting(pending.engine, address=pending.ray_address or None)

    def progress(done: int, total: int) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=f"Running the model: {done:,} of {total:,} rows")

    with job_slot(on_wait=lambda: bar.progress(0.0, text="Waiting for a free worker (other audits are running) ...")):
        result = audit_and_record(pending.data_path, pending.spec, model=pending.model_path,
                                  name=pending.title or pending.data_name, settings=settings(), store=open_store()[0],
                                  progress=progress, engine=engine)
    bar.progress(1.0, text="Done")
    clear_cohort()
    st.session_state[AUDIT] = result.audit
    st.session_state[CONTEXT] = result.context
    st.session_state[AUDIT_ID] = result.audit_id
