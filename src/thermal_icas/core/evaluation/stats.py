"""Patient-level statistics: AUROC and its relatives under bootstrap weights, DeLong's AUROC.

Every interval's unit is the patient (see `thermal_icas.core.evaluation.bootstrap`). AUROCs of a
whole set of resamples are computed at once from the matrix of positive-negative comparisons,
so 10,000 resamples take well under a second.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import norm, rankdata
from scipy.stats import t as student_t

from thermal_icas.core.evaluation.bootstrap import (
    BootstrapSettings,
    Distribution,
    Interval,
    PatientDraw,
    at_edge,
    one_sided,
    perfect_auroc_bound,
)
from thermal_icas.core.evaluation.metrics import METRICS

# from this many patients per class on, simulated coverage was 93-99% (scripts/coverage.py)
MIN_CLASS_PATIENTS = 12


def bootstrap_intervals(
    scores: np.ndarray,
    labels: np.ndarray,
    groups: Sequence[str] | np.ndarray,
    threshold: float,
    settings: BootstrapSettings,
    ranking: bool = True,
) -> dict[str, Interval]:
    """BCa intervals of the metrics that carry one (`METRICS`: sensitivity and specificity of
    `p > threshold` and, with `ranking`, AUROC and AUPRC), all from the same resamples of the
    patients (`groups`).

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
    predicted = scores > threshold
    values: dict[str, tuple[np.ndarray, float]] = {}
    for name, metric in METRICS.items():
        if metric.edge_bound is None or metric.weighted is None or (metric.ranking and not ranking):
            continue
        bound = metric.edge_bound(n_pos, n_neg, settings.level)
        values[name] = (metric.weighted(scores, labels, predicted, rows), bound)
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
