"""Plain-language definitions of every fairness number, for tooltips and reports."""
from __future__ import annotations

METRICS: dict[str, str] = {
    "count": "Number of rows in the group.",
    "selection_rate": "Share of the group that receives the positive prediction (for example: approved).",
    "accuracy": "Share of the group's rows where the prediction equals the true label.",
    "precision": (
        "Of the group's positive predictions, the share that were truly positive (0 when nobody was "
        "predicted positive)."
    ),
    "recall": (
        "Of the group's truly positive rows, the share the model predicted positive; also called true-"
        "positive rate (0 when the group has no positives)."
    ),
    "false_positive_rate": "Of the group's truly negative rows, the share wrongly predicted positive.",
    "false_negative_rate": "Of the group's truly positive rows, the share wrongly predicted negative (missed).",
    "balanced_accuracy": (
        "Average of the true-positive and true-negative rates: accuracy that is not inflated by the "
        "larger class."
    ),
    "roc_auc": (
        "Chance that a random positive row of the group gets a higher score than a random negative one "
        "(0.5 = guessing)."
    ),
}

DISPARITIES: dict[str, str] = {
    "demographic_parity_difference": (
        "Highest minus lowest group selection rate. 0 means every group is selected equally often."
    ),
    "demographic_parity_ratio": (
        "Lowest group selection rate divided by the highest. Below 0.8 fails the four-fifths rule."
    ),
    "equalized_odds_difference": (
        "Largest gap between groups in true-positive rate or false-positive rate. 0 means errors fall "
        "equally on every group."
    ),
    "equalized_odds_ratio": (
        "Smallest ratio between groups of the true-positive or false-positive rates. 1 means equal."
    ),
    "equal_opportunity_difference": (
        "Highest minus lowest group true-positive rate: how unequally truly positive people are "
        "recognised."
    ),
    "equal_opportunity_ratio": "Lowest group true-positive rate divided by the highest.",
}

TITLES: dict[str, str] = {
    "count": "Rows",
    "selection_rate": "Selection rate",
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall (true-positive rate)",
    "false_positive_rate": "False-positive rate",
    "false_negative_rate": "False-negative rate",
    "balanced_accuracy": "Balanced accuracy",
    "roc_auc": "ROC AUC",
    "demographic_parity_difference": "Demographic parity difference",
    "demographic_parity_ratio": "Demographic parity ratio",
    "equalized_odds_difference": "Equalized odds difference",
    "equalized_odds_ratio": "Equalized odds ratio",
    "equal_opportunity_difference": "Equal opportunity difference",
    "equal_opportunity_ratio": "Equal opportunity ratio",
}
