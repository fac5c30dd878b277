"""The `inputs` and `predictions` sections of audit.json."""
from __future__ import annotations

import platform
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import numpy as np

from auditkit.context import AuditContext

SCHEMA_VERSION = 1
_LIBRARIES = ("torch", "transformers", "safetensors", "fairlearn", "shap", "opacus", "captum", "codecarbon",
              "scikit-learn", "numpy", "pandas", "pyarrow")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries an audit depends on."""
    from auditkit import __version__

    versions = {"python": platform.python_version(), "auditkit": __version__}
    for lib in _LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            continue
    return versions


def inputs_section(ctx: AuditContext, *, data_name: str = "") -> dict[str, Any]:
    """The `inputs` section: content hashes, rows, column roles, library versions."""
    return {
        "schema_version": SCHEMA_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data_file": data_name,
        "data_sha256": ctx.data_sha256,
        "model_sha256": ctx.model.sha256 if ctx.model else None,
        "model_format": ctx.model.fmt if ctx.model else "predictions-only",
        "model_kind": ctx.model.family.kind if ctx.model else None,
        "model_worker": ctx.model.protections if ctx.model else None,
        "rows": int(len(ctx.frame)),
        "columns": ctx.spec.roles(),
        "classes": list(ctx.classes),
        "versions": library_versions(),
        "warnings": list(ctx.warnings),
    }


def predictions_section(ctx: AuditContext) -> dict[str, Any]:
    """The `predictions` section: a summary of what the model predicted and how it was obtained."""
    y_true, y_pred, pos = ctx.y_true, ctx.y_pred, ctx.positive_label
    section: dict[str, Any] = {
        "source": "model" if ctx.model else "dataset",
        "rows": int(len(y_pred)),
        "accuracy": float(np.mean(y_true == y_pred)),
        "positive_rate": float(np.mean(y_pred == pos)),
        "label_positive_rate": float(np.mean(y_true == pos)),
        "predicted_class_counts": {c: int(np.sum(y_pred == c)) for c in ctx.classes},
        "has_scores": ctx.y_score is not None,
    }
    if ctx.predictions is not None:
        p = ctx.predictions
        section.update(seconds=p.seconds, device=p.device, batch_size=p.batch_size, cached=ctx.cached,
                       rows_per_second=p.n / p.seconds if p.seconds > 0 else None)
    return section
