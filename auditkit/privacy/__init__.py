"""Privacy: DP-SGD accounting and training (Opacus), membership inference, PII scan and k-anonymity.

Names are imported on first use, so reading a stored result (`auditkit.privacy.results`) loads no model library.
"""
from importlib import import_module
from typing import Any

_EXPORTS = {
    "ACCOUNTANTS": "accounting", "epsilon_curve": "accounting", "epsilon_spent": "accounting",
    "noise_for_epsilon": "accounting", "load_dp_weights": "artifacts", "save_dp_artifacts": "artifacts",
    "save_dp_text_artifacts": "artifacts", "KAnonymityResult": "kanonymity", "k_anonymity": "kanonymity",
    "MIAResult": "results", "epsilon_lower_bound": "membership", "membership_audit": "membership",
    "membership_audit_text": "membership", "PIIScanResult": "pii", "scan_pii": "pii", "SweepResult": "sweep",
    "privacy_utility_sweep": "sweep", "dp_finetune_text": "text", "DPResult": "training", "dp_train": "training",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'auditkit.privacy' has no attribute {name!r}")
    return getattr(import_module(f"auditkit.privacy.{_EXPORTS[name]}"), name)
