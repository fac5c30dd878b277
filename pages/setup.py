"""Setup: upload a dataset and a checkpoint, assign column roles, see validation inline."""
import streamlit as st

from auditkit.access import RAY_ADDRESSES_ENV, allowed_ray_addresses
from auditkit.data.spec import AuditSpec
from auditkit.engines import registered
from auditkit.errors import AuditkitError
from auditkit.markup import plain
from auditkit.prepare import load_dataset
from auditkit.service import upload
from dashboard.access import allowed, enforce_entry, explain_not_allowed
from dashboard.setup_results import read_columns
from dashboard.shared import PENDING, PendingAudit, cached_model, settings, show_error



enforce_entry()
st.title("Setup")
st.caption("Files are stored by content hash in the local workspace and never executed. "
           "Accepted models: a .pt2 (torch.export) tabular model, or a zipped Hugging Face folder with safetensors weights.")

if not allowed("upload"):
    explain_not_allowed("upload", "Uploading data and models")
    st.stop()

data_file = st.file_uploader("Dataset", type=["csv", "parquet", "jsonl"], help="CSV (UTF-8), Parquet or JSONL; one row per example.")
mode = st.radio("Model", ["Upload a checkpoint", "Predictions are in the dataset"], horizontal=True,
                help="Without a checkpoint, the dataset must carry the model's predictions (and optionally scores).")
model_file = st.file_uploader("Checkpoint", type=["pt2", "zip"]) if mode == "Upload a checkpoint" else None

if data_file is None:
    st.info("Upload a dataset to continue.")
    st.stop()

try:
    data_path = upload(data_file.getvalue(), data_file.name, settings=settings())
    columns, numeric = read_columns(str(data_path))
except AuditkitError as e:
    show_error(e)
    st.stop()
if mode == "Upload a checkpoint" and model_file is None:
    st.info("Upload the model checkpoint to continue, or choose 'Predictions are in the dataset'.")
    st.stop()

st.subheader("Column roles")
left, right = st.columns(2)
target = left.selectbox("Label (what the model predicts)", columns, index=None, placeholder="Choose the label column",
                       help="The true outcome for each row.")
sensitive = right.multiselect("Sensitive attributes", [c for c in columns if c != target],
                              placeholder="Choose one or more columns",
                              help="Groups to compare, e.g. sex, race, age group. Intersections are audited too.")
positive = left.text_input("Favourable label value", "1", help="The outcome that benefits a person, e.g. 1 for 'approved'.")
if target is None or not sensitive:
    st.info("Choose the label column and at least one sensitive attribute to continue.")
    st.stop()
others = [c for c in columns if c != target and c not in sensitive]
text_col = right.selectbox("Text column (text models)", ["(none)"] + others)
pred_col = score_col = None
if model_file is None:
    pred_col = left.selectbox("Prediction column", others)
    score_col = right.selectbox("Score column (optional)", ["(none)"] + [c for c in others if c != pred_col])
roles = {target, *sensitive, text_col, pred_col, score_col}
features = st.multiselect("Feature columns, in the model's input order", [c for c in columns if c not in roles],
                          default=[c for c in numeric if c not in roles and c != "split"],
                          help="Tabular models only: the columns fed to the model, in order.") if text_col == "(none)" and model_file else []

spec = AuditSpec(target=target, sensitive=tuple(sensitive), features=tuple(features),
                 text_column=None if text_col == "(none)" else text_col, prediction_column=pred_col,
                 score_column=None if score_col in (None, "(none)") else score_col, positive_label=positive.strip())

try:
    model_path = None
    if model_file is not None:
        model_path = upload(model_file.getvalue(), model_file.name, settings=settings())
        model = cached_model(str(model_path), model_path.name)
        st.success(f"Model loaded safely in its own contained process: {model.fmt}, {model.family.kind}, "
                   f"{model.n_classes} classes.")
        missing = "; ".join(f"{k}: {v}" for k, v in model.protections["missing"].items())
        st.caption(plain(f"In force: {', '.join(model.protections['applied'])}."
                         + (f" Not available here: {missing}." if missing else "")))
    dataset = load_dataset(data_path, spec, settings=settings(), needs_features=bool(model_file) and spec.text_column is None)
except AuditkitError as e:
    show_error(e)
    st.stop()

st.success(f"The dataset is valid: {len(dataset.frame):,} rows, classes {plain(', '.join(dataset.classes))}.")
for warning in dataset.warnings:
    st.warning(plain(warning))
with st.expander("Where to run (large data)"):
    engines = registered()
    engine = st.radio("Engine", list(engines), format_func=lambda name: engines[name].description.capitalize(),
                      key="engine",
                      help="In memory suits most files. Streaming reads CSV/Parquet in chunks in bounded memory; Ray "
                           "runs inference and counting on a Ray cluster (needs `pip install -r requirements-ray.txt`). "
                           "All three give the same predictions and fairness numbers.")
    address = st.selectbox("Ray cluster", [None, *allowed_ray_addresses()], key="ray_address",
                           disabled=engine != "ray", format_func=lambda a: a or "A local cluster on this machine",
                           help=f"The clusters this server's administrator allows (`{RAY_ADDRESSES_ENV}`), or a "
                                "local cluster started on this machine.")
if st.button("Run the audit", type="primary"):
    st.session_state[PENDING] = PendingAudit(str(data_path), data_file.name, spec, str(model_path) if model_path else None,
                                             data_file.name, engine=engine, ray_address=address)
    st.switch_page("pages/run.py")
