"""Binary screening metrics that report the positive (minority) class, never a weighted average."""

from __future__ import annotations

import logging

import torch
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryAUROC,
    BinaryAveragePrecision,
    BinaryConfusionMatrix,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
    BinarySpecificity,
)

log = logging.getLogger(__name__)


def screening_metrics(threshold: float = 0.5) -> MetricCollection:
    """Metrics on the positive-class probability; a sample is positive when p > threshold."""
    return MetricCollection(
        {
            "acc": BinaryAccuracy(threshold=threshold),
            "sensitivity": BinaryRecall(threshold=threshold),
            "specificity": BinarySpecificity(threshold=threshold),
            "precision": BinaryPrecision(threshold=threshold),
            "f1": BinaryF1Score(threshold=threshold),
            "auroc": BinaryAUROC(),
            "auprc": BinaryAveragePrecision(),
        }
    )


def finalize(values: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """Add balanced accuracy, which unlike accuracy cannot be won by ignoring the minority."""
    values = dict(values)
    values[f"{prefix}balanced_acc"] = (
        values[f"{prefix}sensitivity"] + values[f"{prefix}specificity"]
    ) / 2
    return values


def confusion_matrix(threshold: float) -> BinaryConfusionMatrix:
    return BinaryConfusionMatrix(threshold=threshold)


def youden_threshold(probs: Tensor, targets: Tensor) -> float:
    """Threshold maximising sensitivity + specificity - 1 on validation predictions.

    The cut is placed halfway between neighbouring scores so that `p > t` and `p >= t` agree.
    """
    probs = probs.double()
    positives = targets == 1
    if positives.all() or not positives.any():
        log.warning("Validation has a single class: keeping the decision threshold at 0.5")
        return 0.5
    scores = torch.unique(probs)
    cuts = torch.cat([scores[:1] - 1e-6, (scores[1:] + scores[:-1]) / 2, scores[-1:] + 1e-6])
    predicted = probs[None, :] > cuts[:, None]
    sensitivity = (predicted & positives).sum(1) / positives.sum()
    specificity = (~predicted & ~positives).sum(1) / (~positives).sum()
    best = int(torch.argmax(sensitivity + specificity))
    return float(cuts[best].clamp(0.0, 1.0))
