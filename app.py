"""AuditKit dashboard: `streamlit run app.py`."""
import streamlit as st

from auditkit.errors import AuditkitError
from pages._shared import open_store, show_error

st.set_page_config(page_title="AuditKit", page_icon=":material/fact_check:", layout="wide")
try:
    open_store()  # once per process: integrity check, orphan blobs swept, half-finished runs marked failed
except AuditkitError as e:
    show_error(e)

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
st.navigation(pages).run()
