"""The screening metrics, one registry (`METRICS`) for every level that reports them.

Each metric of a binary screen has its value on scores, labels and the decisions at a threshold
(`point`, as a run reports it), its value under rows of sample weights (`weighted`: the patient
bootstrap, the pooled replicates of a sweep) where it has one, the module the training loop
accumulates per image (`image`), and its name in tables. Image level (the training loop, the
clinical arm, an external cohort), patient level, the bootstrap, the comparisons of arms and the
summaries read it, so a new metric is one entry here. Every rate reports the positive
(minority) class; nothing is a weighted average over the classes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score
from torchmetrics import Metric as ImageMetric
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
    BinarySpecificity,
)

from thermal_icas.core.evaluation.bootstrap import (
    perfect_auprc_bound,
    perfect_auroc_bound,
    proportion_bound,
)

# (scores, labels, predicted) -> value; (scores, labels, predicted, rows of weights) -> per row
Point = Callable[[np.ndarray, np.ndarray, np.ndarray], float]
Weighted = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]
# (positive patients, negative patients, level) -> the one-sided bound of a perfect split
EdgeBound = Callable[[int, int, float], float]


@dataclass(frozen=True)
class Metric:
    label: str
    point: Point
    weighted: Weighted | None = None
    # the per-image module of the training loop, made at the decision threshold
    image: Callable[[float], ImageMetric] | None = None
    # reported per patient as well as per image
    per_patient: bool = True
    # set: the run's metrics carry the patient-bootstrap interval (`<name>_ci_low/high`), and
    # this bound when a perfectly separated split makes every resample repeat 0 or 1
    edge_bound: EdgeBound | None = None
    # computed from the scores' order alone, no threshold
    ranking: bool = False


def comparison_matrix(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """K[i, j] = 1 if positive i outscores negative j, 0.5 on a tie, else 0."""
    positive = scores[labels == 1][:, None]
    negative = scores[labels == 0][None, :]
    return (positive > negative) + 0.5 * (positive == negative)


def weighted_auroc(kernel: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUROC of each row of sample weights: the weighted share of positive-negative pairs won."""
    w_pos = weights[:, labels == 1]
    w_neg = weights[:, labels == 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        return ((w_pos @ kernel) * w_neg).sum(1) / (w_pos.sum(1) * w_neg.sum(1))


def rates(
    predicted: np.ndarray, labels: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted sensitivity and specificity of fixed predictions under each row of weights (or
    of each row of predictions, one per candidate cut, under one row); NaN for an empty class."""
    positive = labels == 1
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = (weights * (predicted & positive)).sum(1) / (weights * positive).sum(1)
        specificity = (weights * (~predicted & ~positive)).sum(1) / (weights * ~positive).sum(1)
    return sensitivity, specificity


def weighted_average_precision(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Average precision (scikit-learn's step-wise definition) of each row of sample weights:
    the precision at each distinct score, weighted by the recall it adds."""
    order = np.argsort(-scores, kind="stable")
    positive = labels[order] == 1
    w = weights[:, order]
    # the last position of each run of tied scores: ties enter the ranking together
    ends = np.r_[np.nonzero(np.diff(scores[order]))[0], len(scores) - 1]
    true_pos = np.cumsum(w * positive, axis=1)[:, ends]
    false_pos = np.cumsum(w * ~positive, axis=1)[:, ends]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.nan_to_num(true_pos / (true_pos + false_pos))
        recall = true_pos / true_pos[:, -1:]
    gained = np.diff(recall, axis=1, prepend=0.0)
    return (gained * precision).sum(1)


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The AUROC of scores against 0/1 labels; NaN for one class."""
    if len(np.unique(labels)) < 2:
        return float("nan")
    return float(roc_auc_score(labels, scores))


def _auroc(scores: np.ndarray, labels: np.ndarray, predicted: np.ndarray) -> float:
    return auroc(scores, labels)


def _auprc(scores: np.ndarray, labels: np.ndarray, predicted: np.ndarray) -> float:
    """0 without a positive."""
    return float(average_precision_score(labels, scores)) if (labels == 1).any() else 0.0


def _sensitivity(scores: np.ndarray, labels: np.ndarray, predicted: np.ndarray) -> float:
    """0 without a positive."""
    positive = labels == 1
    return float((predicted & positive).sum() / max(positive.sum(), 1))


def _specificity(scores: np.ndarray, labels: np.ndarray, predicted: np.ndarray) -> float:
    """0 without a negative."""
    negative = labels != 1
    return float((~predicted & negative).sum() / max(negative.sum(), 1))


def _balanced(scores: np.ndarray, labels: np.ndarray, predicted: np.ndarray) -> float:
    """Cannot be won by ignoring the minority class, unlike accuracy."""
    sensitivity = _sensitivity(scores, labels, predicted)
    return (sensitivity + _specificity(scores, labels, predicted)) / 2


def _weighted_balanced(
    scores: np.ndarray, labels: np.ndarray, predicted: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    sensitivity, specificity = rates(predicted, labels, weights)
    return (sensitivity + specificity) / 2


METRICS: dict[str, Metric] = {
    "auroc": Metric(
        "AUROC",
        _auroc,
        lambda s, y, p, w: weighted_auroc(comparison_matrix(s, y), y, w),
        lambda threshold: BinaryAUROC(),
        edge_bound=perfect_auroc_bound,
        ranking=True,
    ),
    "auprc": Metric(
        "AUPRC",
        _auprc,
        lambda s, y, p, w: weighted_average_precision(s, y, w),
        lambda threshold: BinaryAveragePrecision(),
        edge_bound=perfect_auprc_bound,
        ranking=True,
    ),
    "sensitivity": Metric(
        "sensitivity",
        _sensitivity,
        lambda s, y, p, w: rates(p, y, w)[0],
        lambda threshold: BinaryRecall(threshold=threshold),
        edge_bound=lambda n_pos, n_neg, level: proportion_bound(n_pos, level),
    ),
    "specificity": Metric(
        "specificity",
        _specificity,
        lambda s, y, p, w: rates(p, y, w)[1],
        lambda threshold: BinarySpecificity(threshold=threshold),
        edge_bound=lambda n_pos, n_neg, level: proportion_bound(n_neg, level),
    ),
    "balanced_acc": Metric("balanced accuracy", _balanced, _weighted_balanced),
    "f1": Metric(
        "F1",
        lambda s, y, p: float(f1_score(y, p, zero_division=0)),
        image=lambda threshold: BinaryF1Score(threshold=threshold),
    ),
    "precision": Metric(
        "precision",
        lambda s, y, p: float((p & (y == 1)).sum() / max(p.sum(), 1)),
        image=lambda threshold: BinaryPrecision(threshold=threshold),
        per_patient=False,
    ),
    "acc": Metric(
        "accuracy",
        lambda s, y, p: int((p == (y == 1)).sum()) / len(y),
        image=lambda threshold: BinaryAccuracy(threshold=threshold),
        per_patient=False,
    ),
}


def point_values(
    scores: np.ndarray, labels: np.ndarray, threshold: float, patients: bool
) -> dict[str, float]:
    """Every metric of the level (per image, or per patient) at `p > threshold`."""
    predicted = scores > threshold
    return {
        name: metric.point(scores, labels, predicted)
        for name, metric in METRICS.items()
        if metric.per_patient or not patients
    }
