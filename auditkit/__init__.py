"""AuditKit: audit a model's fairness, explanations, privacy and energy from a dataset and a checkpoint.

Public API (imported lazily, so `python -m auditkit` commands that need no model start fast)::

    import auditkit
    spec = auditkit.AuditSpec(target="approved", sensitive=("sex",))
    data = auditkit.load_dataset("loans.csv", spec, needs_features=True)
    model = auditkit.load_model("model.pt2")
    preds = auditkit.predict(model, data.frame[list(data.spec.features)])
    audit, ctx = auditkit.run_audit("loans.csv", spec, model="model.pt2")
"""
from importlib import import_module
from typing import Any

__version__ = "0.1.0"
_EXPORTS = {
    "load_dataset": "auditkit.prepare", "prepare": "auditkit.prepare", "run_audit": "auditkit.audit",
    "write_audit": "auditkit.audit", "EngineSetting": "auditkit.engine_registry", "ModelHandle": "auditkit.families.handle",
    "load_model": "auditkit.checkpoints.loader",
    "Settings": "auditkit.config", "AuditContext": "auditkit.context", "AuditSpec": "auditkit.data.spec",
    "ValidatedDataset": "auditkit.data.validate", "AuditkitError": "auditkit.errors",
    "DataValidationError": "auditkit.errors", "ModelLoadError": "auditkit.errors", "SettingsError": "auditkit.errors",
    "UnsafeModelError": "auditkit.errors", "Predictions": "auditkit.inference.runner", "predict": "auditkit.inference.runner",
    "audit_and_record": "auditkit.service",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'auditkit' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
