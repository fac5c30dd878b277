"""AuditKit: audit a model's fairness, explanations, privacy and energy from a dataset and a checkpoint.

Public API::

    import auditkit
    data = auditkit.load_dataset("loans.csv", auditkit.AuditSpec(target="approved", sensitive=("sex",)))
    model = auditkit.load_model("model.pt2")
    preds = auditkit.predict(model, data.frame[list(data.spec.features)])
    audit, ctx = auditkit.run_audit("loans.csv", spec, model="model.pt2")
"""
from auditkit.audit import load_dataset, prepare, run_audit, write_audit
from auditkit.checkpoints.handle import LoadedModel
from auditkit.checkpoints.loader import load_model
from auditkit.config import Settings
from auditkit.context import AuditContext
from auditkit.data.spec import AuditSpec
from auditkit.data.validate import ValidatedDataset
from auditkit.errors import AuditkitError, DataValidationError, ModelLoadError, SettingsError, UnsafeModelError
from auditkit.inference.runner import Predictions, predict

__version__ = "0.1.0"
__all__ = ["AuditContext", "AuditSpec", "AuditkitError", "DataValidationError", "LoadedModel", "ModelLoadError",
           "Predictions", "Settings", "SettingsError", "UnsafeModelError", "ValidatedDataset", "load_dataset",
           "load_model", "predict", "prepare", "run_audit", "write_audit"]
