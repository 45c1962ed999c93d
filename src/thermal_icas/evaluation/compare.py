"""Arms compared on the same patients: pooled out-of-fold scores and paired patient bootstraps.

A replicate is one seed (one repeat of a cross-validation, or one split): its folds' test
patients are pooled, so a cross-validation repeat scores every patient once, out of fold, and
gives one AUROC instead of k small-fold ones. Over several replicates an estimate is the mean
of the replicates' values, and the bootstrap is stratified by replicate: each resample draws
patients within each replicate and class, and both arms are scored on the same draw.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from thermal_icas.evaluation.patients import Scores
from thermal_icas.evaluation.stats import (
    BootstrapSettings,
    Interval,
    cluster_weights,
    comparison_matrix,
    delong_paired_p,
    percentile_interval,
    rates,
    weighted_auroc,
)

PAIRED_METRICS = ("auroc", "balanced_acc")
# an interval from fewer replicate values than this is not shown: with three values a
# bootstrap interval is their range, and any three same-signed differences "exclude 0"
MIN_REPLICATES = 5

INCLUDES_ZERO = "CI includes 0: no evidence of a difference"
EXCLUDES_ZERO = "CI excludes 0"
TOO_FEW_PAIRS = (
    f"fewer than {MIN_REPLICATES} replicates: no interval (the per-replicate values are shown; "
    "an interval needs the patient-level comparison or more seeds)"
)


def verdict(ci: Interval | None) -> str:
    if ci is None:
        return TOO_FEW_PAIRS
    return INCLUDES_ZERO if ci[0] <= 0 <= ci[1] else EXCLUDES_ZERO


def replicate_interval(values: np.ndarray, level: float = 0.95) -> Interval | None:
    """Student's t interval of the mean of per-replicate values (one per seed or fold), or
    None with fewer than MIN_REPLICATES: a percentile bootstrap of a handful is far too narrow."""
    if values.size < MIN_REPLICATES:
        return None
    half = student_t.ppf(0.5 + level / 2, values.size - 1) * values.std(ddof=1)
    half /= np.sqrt(values.size)
    return float(values.mean() - half), float(values.mean() + half)


@dataclass(frozen=True)
class PatientSet:
    """One arm's test patients in one replicate, sorted by id, with its decisions."""

    patients: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    predicted: np.ndarray

    def __len__(self) -> int:
        return len(self.patients)

    def subset(self, keep: np.ndarray) -> PatientSet:
        return PatientSet(
            self.patients[keep], self.labels[keep], self.scores[keep], self.predicted[keep]
        )


def pool(parts: Sequence[tuple[Scores, np.ndarray]], where: str) -> PatientSet:
    """The folds of one replicate as one set; a patient tested twice would be counted twice."""
    patients = np.concatenate([scores.patients for scores, _ in parts])
    ids, counts = np.unique(patients, return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"patient '{ids[counts > 1][0]}' is in the test split of two jobs of {where}: the "
            "folds of one replicate must not overlap"
        )
    order = np.argsort(patients)
    return PatientSet(
        patients[order],
        np.concatenate([scores.labels for scores, _ in parts])[order],
        np.concatenate([scores.scores for scores, _ in parts])[order],
        np.concatenate([predicted for _, predicted in parts])[order],
    )


def align(arm: PatientSet, baseline: PatientSet) -> tuple[PatientSet, PatientSet]:
    """Both arms restricted to the patients both scored (a failed fold drops its patients)."""
    shared = np.intersect1d(arm.patients, baseline.patients)
    a = arm.subset(np.isin(arm.patients, shared))
    b = baseline.subset(np.isin(baseline.patients, shared))
    if not np.array_equal(a.labels, b.labels):
        raise ValueError("the two arms give some patients different labels: not the same data")
    return a, b


@dataclass(frozen=True)
class Estimate:
    """A replicate-averaged value, its interval and the per-replicate values behind it."""

    value: float
    ci: Interval
    n_patients: int
    per_replicate: tuple[float, ...]

    @property
    def includes_zero(self) -> bool:
        return self.ci[0] <= 0 <= self.ci[1]


def _values(sets: Sequence[PatientSet], weights: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Each metric per (replicate, resample); all-ones weights give the observed values."""
    auroc, balanced = [], []
    for patients, w in zip(sets, weights, strict=True):
        auroc.append(
            weighted_auroc(comparison_matrix(patients.scores, patients.labels), patients.labels, w)
        )
        sensitivity, specificity = rates(patients.predicted, patients.labels, w)
        balanced.append((sensitivity + specificity) / 2)
    return {"auroc": np.stack(auroc), "balanced_acc": np.stack(balanced)}


def _draws(sets: Sequence[PatientSet], settings: BootstrapSettings) -> list[np.ndarray]:
    rng = np.random.default_rng(settings.seed)
    return [
        cluster_weights(patients.patients, patients.labels, settings.n_resamples, rng)
        for patients in sets
    ]


def _ones(sets: Sequence[PatientSet]) -> list[np.ndarray]:
    return [np.ones((1, len(patients))) for patients in sets]


def arm_estimates(sets: Sequence[PatientSet], settings: BootstrapSettings) -> dict[str, Estimate]:
    """Patient-level AUROC and balanced accuracy of one arm, pooled within replicates."""
    observed = _values(sets, _ones(sets))
    resampled = _values(sets, _draws(sets, settings))
    return {
        metric: Estimate(
            float(observed[metric].mean()),
            percentile_interval(resampled[metric].mean(0), settings.level),
            sum(len(patients) for patients in sets),
            tuple(float(v) for v in observed[metric][:, 0]),
        )
        for metric in PAIRED_METRICS
    }


@dataclass(frozen=True)
class PairedComparison:
    """Arm minus baseline per metric on the same patients, and DeLong's p-value for AUROC."""

    estimates: dict[str, Estimate]
    delong_p: float | None

    def by_metric(self) -> Iterator[tuple[str, Estimate, float | None]]:
        """Each metric's difference, with DeLong's p-value for AUROC (None for the others)."""
        for metric, estimate in self.estimates.items():
            yield metric, estimate, self.delong_p if metric == "auroc" else None


def paired_difference(
    pairs: Sequence[tuple[PatientSet, PatientSet]], settings: BootstrapSettings
) -> PairedComparison:
    """(arm, baseline) per replicate, on the patients both scored; the same resample of
    patients scores both arms, so patient-to-patient variation cancels in the difference."""
    aligned = [align(arm, baseline) for arm, baseline in pairs]
    arms = [a for a, _ in aligned]
    bases = [b for _, b in aligned]
    observed_a, observed_b = _values(arms, _ones(arms)), _values(bases, _ones(bases))
    draws = _draws(arms, settings)
    resampled_a, resampled_b = _values(arms, draws), _values(bases, draws)
    estimates = {}
    for metric in PAIRED_METRICS:
        per_replicate = observed_a[metric][:, 0] - observed_b[metric][:, 0]
        differences = (resampled_a[metric] - resampled_b[metric]).mean(0)
        estimates[metric] = Estimate(
            float(per_replicate.mean()),
            percentile_interval(differences, settings.level),
            sum(len(a) for a in arms),
            tuple(float(v) for v in per_replicate),
        )
    return PairedComparison(estimates, _delong(aligned))


def _delong(aligned: Sequence[tuple[PatientSet, PatientSet]]) -> float | None:
    """DeLong applies to one set of patients: one replicate, or replicates that all scored the
    same patients (repeats of a cross-validation), whose scores are then averaged per patient."""
    first = aligned[0][0]
    if any(not np.array_equal(a.patients, first.patients) for a, _ in aligned):
        return None
    if len(first) < 2 or len(np.unique(first.labels)) < 2:
        return None
    scores_a = np.mean([a.scores for a, _ in aligned], axis=0)
    scores_b = np.mean([b.scores for _, b in aligned], axis=0)
    return delong_paired_p(scores_a, scores_b, first.labels)
