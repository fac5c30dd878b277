"""Privacy: DP-SGD accounting and training (Opacus), membership inference, PII scan and k-anonymity."""
from auditkit.privacy.accounting import ACCOUNTANTS, epsilon_curve, epsilon_spent, noise_for_epsilon
from auditkit.privacy.artifacts import load_dp_weights, save_dp_artifacts, save_dp_text_artifacts
from auditkit.privacy.kanonymity import KAnonymityResult, k_anonymity
from auditkit.privacy.membership import MIAResult, epsilon_lower_bound, membership_audit, membership_audit_text
from auditkit.privacy.pii import PIIScanResult, scan_pii
from auditkit.privacy.sweep import SweepResult, privacy_utility_sweep
from auditkit.privacy.text import dp_finetune_text
from auditkit.privacy.training import DPResult, dp_train

__all__ = [
    "ACCOUNTANTS", "DPResult", "KAnonymityResult", "MIAResult", "PIIScanResult", "SweepResult", "dp_finetune_text",
    "dp_train", "epsilon_curve", "epsilon_lower_bound", "epsilon_spent", "k_anonymity", "load_dp_weights",
    "membership_audit", "membership_audit_text", "noise_for_epsilon", "privacy_utility_sweep", "save_dp_artifacts",
    "save_dp_text_artifacts", "scan_pii",
]
