"""AuditKit dashboard: `streamlit run app.py`."""
import streamlit as st

from auditkit.access import acting_as
from auditkit.config import check_environment
from auditkit.errors import AuditkitError
from dashboard.access import gate, show_user
from dashboard.shared import favicon, open_store, show_error, warm_up

st.set_page_config(page_title="AuditKit", page_icon=favicon(), layout="wide")
try:
    check_environment()  # a setting that does not parse (AUDITKIT_MAX_FILE_MB=abc) is one message, on every page
except AuditkitError as e:
    show_error(e)
    st.stop()
try:
    open_store()  # once per process: integrity check, orphan blobs swept, half-finished runs marked failed
except AuditkitError as e:
    show_error(e)
warm_up()  # once per process: the panels' libraries are imported in the background

principal = gate()  # the sign-in screen when sign-in is configured and nobody is signed in
if principal is None:
    st.stop()
show_user(principal)

pages = {
    "Start": [
        st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
        st.Page("pages/setup.py", title="Setup", icon=":material/upload_file:"),
        st.Page("pages/run.py", title="Run & summary", icon=":material/play_circle:"),
    ],
    "Panels": [
        st.Page("pages/fairness.py", title="Fairness", icon=":material/balance:"),
        st.Page("pages/explanations.py", title="Explanations", icon=":material/insights:"),
        st.Page("pages/privacy.py", title="Privacy", icon=":material/lock:"),
        st.Page("pages/energy.py", title="Energy", icon=":material/bolt:"),
    ],
    "Evidence": [
        st.Page("pages/report.py", title="Report", icon=":material/description:"),
        st.Page("pages/history.py", title="History", icon=":material/history:"),
    ],
}
with acting_as(principal, page=True):  # engine calls made by the page act as the signed-in user, checking their role
    st.navigation(pages).run()
