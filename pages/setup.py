"""Setup: upload a dataset and a checkpoint, assign column roles, see validation inline."""
import streamlit as st

from auditkit.access import RAY_ADDRESSES_ENV, allowed_ray_addresses
from auditkit.data.spec import AuditSpec
from auditkit.engines import registered
from auditkit.errors import AuditkitError
from auditkit.families.registry import families
from auditkit.markup import plain
from auditkit.prepare import load_dataset
from auditkit.service import upload
from dashboard.access import allowed, enforce_entry, explain_not_allowed
from dashboard.setup_results import likely_prediction, read_columns
from dashboard.shared import PENDING, PendingAudit, cached_model, settings, show_error

PREDICTIONS_ONLY = "Predictions are in the dataset"
ACCEPTED = "; ".join(plain(f.description) for f in families())  # the registered model families' formats


def show_way_out() -> None:
    """What a user whose checkpoint was refused can do instead: the accepted formats, the predictions-only mode,
    and how to convert a model."""
    accepted = "\n".join(f"- {plain(f.description)}" for f in families())
    st.info(f"**Checkpoints AuditKit accepts:**\n{accepted}\n\n"
            f"**No checkpoint in one of these formats?** Score the dataset with your model yourself, add its "
            f"predictions (and scores) as columns, and choose *{PREDICTIONS_ONLY}* above.\n\n"
            "**To convert** (in a Python session you trust, where the model loads): a PyTorch tabular model with "
            "`torch.export.save(torch.export.export(model, (example_batch,)), 'model.pt2')`; a Hugging Face "
            "classifier with `model.save_pretrained('folder', safe_serialization=True)` and "
            "`tokenizer.save_pretrained('folder')`, then zip the folder. Pickles (`.pkl`, `.joblib`, `.pt`, "
            "`.bin`) can run code when loaded and are never accepted.", icon=":material/lightbulb:")


enforce_entry()
st.title("Setup")
st.caption(f"Files are stored by content hash in the local workspace and never executed. Accepted models: {ACCEPTED}.")

if not allowed("upload"):
    explain_not_allowed("upload", "Uploading data and models")
    st.stop()

data_file = st.file_uploader("Dataset", type=["csv", "parquet", "jsonl"], help="CSV (UTF-8), Parquet or JSONL; one row per example.")
mode = st.radio("Model", ["Upload a checkpoint", PREDICTIONS_ONLY], horizontal=True,
                help="Without a checkpoint, the dataset must carry the model's predictions (and optionally scores).")
# Any file type: the engine refuses what it cannot load, with the reason (a browser-side filter refuses silently).
model_file = st.file_uploader("Checkpoint", help=f"Accepted: {ACCEPTED}.") if mode == "Upload a checkpoint" else None

model_path = model = None
if model_file is not None:
    try:
        model_path = upload(model_file.getvalue(), model_file.name, settings=settings())
        model = cached_model(str(model_path), model_path.name)
    except AuditkitError as e:  # the message names the stored copy; the user knows the file by its own name
        show_error(AuditkitError(str(e).replace(model_path.name, model_file.name)) if model_path else e)
        show_way_out()
        st.stop()
    st.success(f"Model loaded safely in its own contained process: {model.fmt}, {model.family.kind}, "
               f"{model.n_classes} classes.")
    missing = "; ".join(f"{k}: {v}" for k, v in model.protections["missing"].items())
    st.caption(plain(f"In force: {', '.join(model.protections['applied'])}."
                     + (f" Not available here: {missing}." if missing else "")))

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
    st.info(f"Upload the model checkpoint to continue, or choose '{PREDICTIONS_ONLY}'.")
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
    candidates = [c for c in others if c != text_col]
    likely = likely_prediction(str(data_path), target, (*sensitive, text_col))
    pred_col = left.selectbox("Prediction column", candidates, index=candidates.index(likely) if likely else None,
                              placeholder="Choose the column with the model's predictions",
                              help="The model's predicted label for each row, in the label's values.")
    score_col = right.selectbox("Score column (optional)", ["(none)"] + [c for c in candidates if c != pred_col])
    if pred_col is None:
        st.info("Choose the column that holds the model's predictions to continue.")
        st.stop()
roles = {target, *sensitive, text_col, pred_col, score_col}
features = st.multiselect("Feature columns, in the model's input order", [c for c in columns if c not in roles],
                          default=[c for c in numeric if c not in roles and c != "split"],
                          help="Tabular models only: the columns fed to the model, in order.") if text_col == "(none)" and model_file else []

spec = AuditSpec(target=target, sensitive=tuple(sensitive), features=tuple(features),
                 text_column=None if text_col == "(none)" else text_col, prediction_column=pred_col,
                 score_column=None if score_col in (None, "(none)") else score_col, positive_label=positive.strip())

try:
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
