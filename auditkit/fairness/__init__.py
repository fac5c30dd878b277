"""Group fairness of a classifier's predictions: metrics, disparities, intervals, thresholds and mitigation."""
from auditkit.fairness.assessment import assess, assess_counts
from auditkit.fairness.multiclass import MulticlassReport, assess_multiclass
from auditkit.fairness.policy import (
    DEFAULT_THRESHOLDS,
    DEMOGRAPHIC_PARITY_DIFFERENCE_MAX,
    DEMOGRAPHIC_PARITY_RATIO_MIN,
    EQUALIZED_ODDS_DIFFERENCE_MAX,
)
from auditkit.fairness.report import FairnessReport, GroupingReport

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DEMOGRAPHIC_PARITY_DIFFERENCE_MAX",
    "DEMOGRAPHIC_PARITY_RATIO_MIN",
    "EQUALIZED_ODDS_DIFFERENCE_MAX",
    "FairnessReport",
    "GroupingReport",
    "MulticlassReport",
    "assess",
    "assess_counts",
    "assess_multiclass",
]
