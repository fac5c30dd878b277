"""Home: what AuditKit does, the workflow, and the one-click demo."""
import streamlit as st

from auditkit.demo import DEMOS, demo_audit
from auditkit.errors import AuditkitError
from dashboard.access import allowed, enforce_entry, explain_not_allowed
from dashboard.shared import PENDING, PendingAudit, settings, show_error

enforce_entry()  # sign-in first, when configured

st.title("AuditKit")
st.markdown(
    "Audit a machine-learning model before it reaches people: **does it treat groups differently, why does it decide "
    "as it does, does it leak who was in its training data, and what does it cost in energy?** "
    "Every answer comes with the numbers behind it and can be exported as evidence."
)
steps = st.columns(4)
for col, (title, text) in zip(steps, [
    ("1. Setup", "Upload a dataset and a model checkpoint, or use a file of existing predictions."),
    ("2. Run", "The model runs once over the data; results are cached by content hash."),
    ("3. Review", "Fairness, explanations, privacy and energy panels, each in plain language."),
    ("4. Report", "A scorecard against your policy, exportable, with a tamper-evident trail."),
]):
    col.markdown(f"**{title}**  \n{text}")

st.subheader("Try the built-in demo")
st.caption("Synthetic data with known, deliberately injected biases, so you can see the audit find them. "
           "The first start builds the demo models on this machine (a few minutes); later starts reuse them.")
if not allowed("run"):
    explain_not_allowed("run", "Running the demo")
cols = st.columns(len(DEMOS))
for col, (name, demo) in zip(cols, DEMOS.items()):
    with col.container(border=True):
        st.markdown(f"**{demo.title}**")
        st.caption(demo.description)
        if allowed("run") and st.button(f"Open the {demo.short} demo", key=f"demo_{name}", type="primary"):
            try:
                with st.status(f"Preparing the {demo.short} demo ...", expanded=True) as status:
                    data_path, model_path, spec = demo_audit(name, settings(), progress=lambda msg, frac: status.write(msg))
                    status.update(label="Demo ready", state="complete")
            except AuditkitError as e:
                show_error(e)
            else:
                st.session_state[PENDING] = PendingAudit(str(data_path), data_path.name, spec, str(model_path), demo.title)
                st.switch_page("pages/run.py")

st.subheader("Audit your own model")
if st.button("Go to Setup"):
    st.switch_page("pages/setup.py")
