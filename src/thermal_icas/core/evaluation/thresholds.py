"""Decision thresholds, always chosen on validation predictions and then applied unchanged.

Every cut lies halfway between neighbouring scores (or just outside the range of scores), so
`p > t` and `p >= t` agree and a threshold never sits on a score.
"""

from __future__ import annotations

import logging

import numpy as np

from thermal_icas.core.evaluation.metrics import rates

log = logging.getLogger(__name__)


def _cuts(scores: np.ndarray) -> np.ndarray:
    unique = np.unique(scores)
    return np.concatenate([unique[:1] - 1e-6, (unique[1:] + unique[:-1]) / 2, unique[-1:] + 1e-6])


def _single_class(labels: np.ndarray) -> bool:
    if labels.all() or not labels.any():
        log.warning("Validation has a single class: keeping the decision threshold at 0.5")
        return True
    return False


def _rates(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every candidate cut with the sensitivity and specificity of `p > cut`."""
    cuts = _cuts(scores)
    predicted = scores[None, :] > cuts[:, None]
    sensitivity, specificity = rates(predicted, labels, np.ones((1, len(labels))))
    return cuts, sensitivity, specificity


def youden_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The cut maximising sensitivity + specificity - 1 (Youden's J)."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    if _single_class(labels):
        return 0.5
    cuts, sensitivity, specificity = _rates(scores, labels)
    return float(cuts[np.argmax(sensitivity + specificity)])


def threshold_for(scores: np.ndarray, labels: np.ndarray, target: str, value: float) -> float:
    """The screening operating point: the cut that reaches `target` (sensitivity or
    specificity) >= value on validation and, among those, is best at the other rate."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    if _single_class(labels):
        return 0.5
    cuts, sensitivity, specificity = _rates(scores, labels)
    reached, other = (
        (specificity, sensitivity) if target == "specificity" else (sensitivity, specificity)
    )
    ok = np.nonzero(reached >= value - 1e-12)[0]
    best = ok[np.argmax(other[ok])]
    return float(cuts[best])
