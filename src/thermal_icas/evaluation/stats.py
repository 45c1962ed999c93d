"""Patient-level statistics: AUROC and its relatives under bootstrap weights, DeLong's AUROC.

Every interval's unit is the patient (see `thermal_icas.evaluation.bootstrap`). AUROCs of a
whole set of resamples are computed at once from the matrix of positive-negative comparisons,
so 10,000 resamples take well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import norm, rankdata
from scipy.stats import t as student_t

from thermal_icas.evaluation.bootstrap import (
    BootstrapSettings,
    Distribution,
    Interval,
    PatientDraw,
    at_edge,
    one_sided,
    perfect_auprc_bound,
    perfect_auroc_bound,
    proportion_bound,
)

# from this many patients per class on, simulated coverage was 93-99% (scripts/coverage.py)
MIN_CLASS_PATIENTS = 12


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


def bootstrap_intervals(
    scores: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[str] | np.ndarray,
    threshold: float,
    settings: BootstrapSettings,
    ranking: bool = True,
) -> dict[str, Interval]:
    """BCa intervals for the sensitivity and specificity of `p > threshold` and, with
    `ranking`, for AUROC and AUPRC, all from the same resamples of the patients (`groups`).

    A value of exactly 0 or 1 that every resample repeats (a perfectly separated test split)
    gets a one-sided interval: for AUROC and AUPRC the binormal bound, for the rates the
    Clopper-Pearson bound on the class's patients, never [1, 1]."""
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels, dtype=int)
    groups = np.asarray(groups, dtype=str)
    draw = PatientDraw.of(groups, labels, settings)
    rows = np.vstack([np.ones((1, len(scores))), draw.weights(groups), draw.jackknife(groups)])
    n_pos = len(np.unique(groups[labels == 1]))
    n_neg = len(np.unique(groups[labels == 0]))
    values: dict[str, tuple[np.ndarray, float]] = {}
    if ranking:
        auroc = weighted_auroc(comparison_matrix(scores, labels), labels, rows)
        values["auroc"] = (auroc, perfect_auroc_bound(n_pos, n_neg, settings.level))
        auprc = weighted_average_precision(scores, labels, rows)
        values["auprc"] = (auprc, perfect_auprc_bound(n_pos, n_neg, settings.level))
    sensitivity, specificity = rates(scores > threshold, labels, rows)
    values["sensitivity"] = (sensitivity, proportion_bound(n_pos, settings.level))
    values["specificity"] = (specificity, proportion_bound(n_neg, settings.level))
    split = 1 + settings.n_resamples
    intervals = {}
    for name, (row_values, bound) in values.items():
        distribution = Distribution(row_values[0], row_values[1:split], row_values[split:])
        intervals[name] = edge_interval(distribution, settings.level, bound)
    return intervals


def edge_interval(distribution: Distribution, level: float, bound: float) -> Interval:
    """BCa, or for a degenerate 0 or 1 the one-sided interval from `bound`."""
    if distribution.degenerate and at_edge(distribution.observed):
        return one_sided(distribution.observed, bound)
    return distribution.interval(level)


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
    """DeLong's interval of one AUROC on the logit scale, back-transformed, so it stays inside
    (0, 1) and follows the skew near 1; an AUROC of exactly 0 or 1 (no variance to scale) gets
    the one-sided binormal bound."""
    labels = np.asarray(labels, dtype=int)
    n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
    if min(n_pos, n_neg) < 2:
        return (float("nan"), float("nan"))
    (auc,), covariance = delong(scores, labels)
    variance = float(covariance[0, 0])
    if auc <= 0 or auc >= 1 or variance <= 0:
        return one_sided(float(auc), perfect_auroc_bound(n_pos, n_neg, level))
    half = norm.ppf(0.5 + level / 2) * np.sqrt(variance) / (auc * (1 - auc))
    logit = np.log(auc / (1 - auc))
    low, high = 1 / (1 + np.exp(-(logit - half))), 1 / (1 + np.exp(-(logit + half)))
    return float(low), float(high)


def delong_paired_p(scores_a: np.ndarray, scores_b: np.ndarray, labels: np.ndarray) -> float:
    """Two-sided p-value of DeLong's test that the mean over replicates of AUROC(a) - AUROC(b)
    is 0. Each score array is (replicates, samples) or one row: every replicate scored the same
    samples, so the covariance of all 2R AUROCs gives the variance of that mean difference."""
    rows_a, rows_b = np.atleast_2d(scores_a), np.atleast_2d(scores_b)
    aucs, cov = delong(np.vstack([rows_a, rows_b]), labels)
    contrast = np.r_[np.full(len(rows_a), 1 / len(rows_a)), np.full(len(rows_b), -1 / len(rows_b))]
    variance = float(contrast @ cov @ contrast)
    difference = float(contrast @ aucs)
    if variance <= 1e-15:
        return 1.0 if abs(difference) < 1e-12 else 0.0
    return float(2 * norm.sf(abs(difference) / np.sqrt(variance)))


def corrected_t_interval(values: np.ndarray, test_train_ratio: float, level: float) -> Interval:
    """Nadeau and Bengio's (2003) corrected resampled t interval of the mean of per-split
    values (one per fold or random split): splits that share most of their training data are
    not independent, so the variance of the mean is var * (1 / J + n_test / n_train), not
    var / J."""
    values = np.asarray(values, dtype=float)
    variance = values.var(ddof=1) * (1 / values.size + test_train_ratio)
    half = student_t.ppf(0.5 + level / 2, values.size - 1) * np.sqrt(variance)
    return float(values.mean() - half), float(values.mean() + half)
