"""Confidence intervals whose unit is the patient: a cluster bootstrap and DeLong's AUROC.

A patient's images are not independent draws, so every resample here draws PATIENTS (with
replacement, within each class, so every resample keeps the cohort's class ratio) and a drawn
patient brings all of its images. AUROCs of a whole set of resamples are computed at once from
the matrix of positive-negative comparisons, so 10,000 resamples take well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata

Interval = tuple[float, float]


def cluster_weights(
    groups: Sequence[str] | np.ndarray,
    labels: np.ndarray,
    n_resamples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(n_resamples, n_samples) multiplicities: how often each sample's group was drawn.

    Groups (patients) are drawn with replacement within their class, as many as the class has;
    a group's class is its samples' largest label.
    """
    ids, member = np.unique(np.asarray(groups), return_inverse=True)
    group_label = np.zeros(len(ids), dtype=int)
    np.maximum.at(group_label, member, np.asarray(labels, dtype=int))
    counts = np.zeros((n_resamples, len(ids)))
    for label in np.unique(group_label):
        (members,) = np.nonzero(group_label == label)
        draws = rng.multinomial(len(members), np.full(len(members), 1 / len(members)), n_resamples)
        counts[:, members] = draws
    return counts[:, member]


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
    """Weighted sensitivity and specificity of fixed predictions under each row of weights."""
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


def percentile_interval(values: np.ndarray, level: float) -> Interval:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (float("nan"), float("nan"))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class BootstrapSettings:
    n_resamples: int = 2000
    level: float = 0.95
    seed: int = 0

    def weights(self, groups: Sequence[str] | np.ndarray, labels: np.ndarray) -> np.ndarray:
        """The resamples' sample weights; the same seed draws the same patients every time."""
        rng = np.random.default_rng(self.seed)
        return cluster_weights(groups, labels, self.n_resamples, rng)


def bootstrap_intervals(
    scores: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[str] | np.ndarray,
    threshold: float,
    settings: BootstrapSettings,
    ranking: bool = True,
) -> dict[str, Interval]:
    """Intervals for the sensitivity and specificity of `p > threshold` and, with `ranking`,
    for AUROC and AUPRC, all from the same resamples of the patients."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=int)
    weights = settings.weights(groups, labels)
    intervals = {}
    if ranking:
        aurocs = weighted_auroc(comparison_matrix(scores, labels), labels, weights)
        auprcs = weighted_average_precision(scores, labels, weights)
        intervals["auroc"] = percentile_interval(aurocs, settings.level)
        intervals["auprc"] = percentile_interval(auprcs, settings.level)
    sensitivity, specificity = rates(scores > threshold, labels, weights)
    intervals["sensitivity"] = percentile_interval(sensitivity, settings.level)
    intervals["specificity"] = percentile_interval(specificity, settings.level)
    return intervals


def delong(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROCs of k score rows on the same samples and their covariance (DeLong et al. 1988).

    The fast form of Sun and Xu (2014): midranks within positives, negatives and both.
    """
    scores = np.atleast_2d(np.asarray(scores, dtype=float))
    labels = np.asarray(labels, dtype=int)
    positive = scores[:, labels == 1]
    negative = scores[:, labels == 0]
    m, n = positive.shape[1], negative.shape[1]
    rank_pos = rankdata(positive, axis=1)
    rank_neg = rankdata(negative, axis=1)
    rank_all = rankdata(np.concatenate([positive, negative], axis=1), axis=1)
    aucs = (rank_all[:, :m].sum(1) - m * (m + 1) / 2) / (m * n)
    v_pos = (rank_all[:, :m] - rank_pos) / n
    v_neg = 1 - (rank_all[:, m:] - rank_neg) / m
    covariance = np.atleast_2d(np.cov(v_pos)) / m + np.atleast_2d(np.cov(v_neg)) / n
    return aucs, covariance


def delong_interval(scores: np.ndarray, labels: np.ndarray, level: float = 0.95) -> Interval:
    """Normal-approximation interval of one AUROC, clipped to [0, 1]."""
    labels = np.asarray(labels, dtype=int)
    if min((labels == 1).sum(), (labels == 0).sum()) < 2:
        return (float("nan"), float("nan"))
    (auc,), covariance = delong(scores, labels)
    half = norm.ppf(0.5 + level / 2) * np.sqrt(max(float(covariance[0, 0]), 0.0))
    return float(max(auc - half, 0.0)), float(min(auc + half, 1.0))


def delong_paired_p(scores_a: np.ndarray, scores_b: np.ndarray, labels: np.ndarray) -> float:
    """Two-sided p-value of DeLong's test that two scores of the same samples share an AUROC."""
    aucs, cov = delong(np.stack([scores_a, scores_b]), labels)
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    difference = aucs[0] - aucs[1]
    if variance <= 1e-15:
        return 1.0 if abs(difference) < 1e-12 else 0.0
    return float(2 * norm.sf(abs(difference) / np.sqrt(variance)))
