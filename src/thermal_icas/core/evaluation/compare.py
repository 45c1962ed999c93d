"""Arms compared on the same patients: pooled out-of-fold scores and paired patient bootstraps.

A replicate is one seed (one repeat of a cross-validation, or one split): its folds' test
patients are pooled, so a cross-validation repeat scores every patient once, out of fold, and
gives one AUROC instead of k small-fold ones. Over several replicates an estimate is the mean
of the replicates' values. Replicates that score the same patients do not add patients: each
resample draws every patient once (`PatientDraw`), and every replicate and both arms count a
drawn patient as often as it was drawn, so the interval is as wide as the patients make it,
however many seeds ran.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from thermal_icas.core.evaluation.bootstrap import (
    BootstrapSettings,
    Distribution,
    Interval,
    PatientDraw,
    perfect_auroc_bound,
)
from thermal_icas.core.evaluation.metrics import METRICS
from thermal_icas.core.evaluation.patients import Scores
from thermal_icas.core.evaluation.stats import MIN_CLASS_PATIENTS, delong_paired_p, edge_interval

PAIRED_METRICS = ("auroc", "balanced_acc")
PRIMARY_METRIC = "auroc"


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


def draw_for(sets: Sequence[PatientSet], settings: BootstrapSettings) -> PatientDraw:
    """One draw over every patient the sets score, stratified by class."""
    patients = np.concatenate([s.patients for s in sets])
    labels = np.concatenate([s.labels for s in sets])
    ids, member = np.unique(patients, return_inverse=True)
    low, high = np.full(len(ids), 1), np.zeros(len(ids), dtype=int)
    np.minimum.at(low, member, labels)
    np.maximum.at(high, member, labels)
    if (low != high).any():
        raise ValueError(
            f"patient '{ids[low != high][0]}' has two labels across replicates: not the same data"
        )
    return PatientDraw.of(patients, labels, settings)


def sharing(sets: Sequence[PatientSet]) -> str:
    """In words: which replicates scored which patients, and whether a class is too small for
    the intervals to be more than approximate."""
    if len(sets) == 1:
        text = f"one replicate, {len(sets[0])} patients"
    elif all(np.array_equal(s.patients, sets[0].patients) for s in sets):
        text = f"all {len(sets)} replicates scored the same {len(sets[0])} patients"
    else:
        distinct = len(np.unique(np.concatenate([s.patients for s in sets])))
        text = (
            f"{len(sets)} replicates scored different sets of {distinct} distinct patients in all"
        )
    positives = np.unique(np.concatenate([s.patients[s.labels == 1] for s in sets]))
    negatives = np.unique(np.concatenate([s.patients[s.labels == 0] for s in sets]))
    if min(len(positives), len(negatives)) < MIN_CLASS_PATIENTS:
        text += f" ({len(positives)} positive: fewer than {MIN_CLASS_PATIENTS} in a class, "
        text += "the intervals are approximate)"
    return text


@dataclass(frozen=True)
class Estimate:
    """A replicate-averaged value, its interval, its p-value against 0 (differences only), and
    its bootstrap distribution; `n_patients` counts distinct patients."""

    value: float
    ci: Interval
    n_patients: int
    n_replicates: int
    per_replicate: tuple[float, ...]
    distribution: Distribution
    p: float | None = None


def _values(sets: Sequence[PatientSet], weights: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Each metric, (replicates, rows): every set under every row of its weights (NaN where a
    row leaves a set without a class)."""
    values: dict[str, list[np.ndarray]] = {name: [] for name in PAIRED_METRICS}
    for patients, w in zip(sets, weights, strict=True):
        for name in PAIRED_METRICS:
            weighted = METRICS[name].weighted
            assert weighted is not None
            values[name].append(weighted(patients.scores, patients.labels, patients.predicted, w))
    return {name: np.stack(rows) for name, rows in values.items()}


def _mean(values: np.ndarray) -> np.ndarray:
    """Mean over replicates (axis 0), skipping a replicate the resample left without a class."""
    finite = np.isfinite(values)
    total = np.where(finite, values, 0.0).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / finite.sum(0)


def _weights(sets: Sequence[PatientSet], draw: PatientDraw) -> list[np.ndarray]:
    """Per set, rows of weights: observed (ones), the resamples, the jackknife."""
    return [
        np.vstack([np.ones((1, len(s))), draw.weights(s.patients), draw.jackknife(s.patients)])
        for s in sets
    ]


def _distributions(
    sets: Sequence[PatientSet], draw: PatientDraw, baselines: Sequence[PatientSet] = ()
) -> tuple[dict[str, Distribution], dict[str, np.ndarray]]:
    """Per metric, the replicate mean (minus the baselines' where given) as a bootstrap
    distribution, and its observed per-replicate values. Baselines are aligned with `sets`
    (the same patients, in the same order), so they share its weights."""
    weights = _weights(sets, draw)
    values = _values(sets, weights)
    if baselines:
        base = _values(baselines, weights)
        values = {metric: values[metric] - base[metric] for metric in values}
    split = 1 + draw.counts.shape[0]
    distributions, observed = {}, {}
    method = "percentile" if baselines else "bca"
    for metric, per_set in values.items():
        mean = _mean(per_set)
        distributions[metric] = Distribution(float(mean[0]), mean[1:split], mean[split:], method)
        observed[metric] = per_set[:, 0]
    return distributions, observed


def arm_estimates(sets: Sequence[PatientSet], settings: BootstrapSettings) -> dict[str, Estimate]:
    """Patient-level AUROC and balanced accuracy of one arm, pooled within replicates."""
    draw = draw_for(sets, settings)
    distributions, observed = _distributions(sets, draw)
    labels = {p: lab for s in sets for p, lab in zip(s.patients, s.labels, strict=True)}
    n_pos = sum(labels.values())
    bound = perfect_auroc_bound(n_pos, len(labels) - n_pos, settings.level)
    estimates = {}
    for metric, distribution in distributions.items():
        ci = (
            edge_interval(distribution, settings.level, bound)
            if metric == "auroc"
            else distribution.interval(settings.level)
        )
        per_replicate = tuple(float(v) for v in observed[metric])
        estimates[metric] = Estimate(
            distribution.observed, ci, len(draw.ids), len(sets), per_replicate, distribution
        )
    return estimates


@dataclass(frozen=True)
class PairedComparison:
    """Arm minus baseline per metric on the same patients, and DeLong's p-value for AUROC
    (the same estimand: the mean over replicates of the per-replicate AUROC difference)."""

    estimates: dict[str, Estimate]
    delong_p: float | None
    sharing: str

    def by_metric(self) -> Iterator[tuple[str, Estimate, float | None]]:
        """Each metric's difference, with DeLong's p-value for AUROC (None for the others)."""
        for metric, estimate in self.estimates.items():
            yield metric, estimate, self.delong_p if metric == PRIMARY_METRIC else None


def paired_difference(
    pairs: Sequence[tuple[PatientSet, PatientSet]], settings: BootstrapSettings
) -> PairedComparison:
    """(arm, baseline) per replicate, on the patients both scored; the same resample of
    patients scores both arms and every replicate, so patient-to-patient variation cancels in
    the difference and replicates do not pass for more patients."""
    aligned = [align(arm, baseline) for arm, baseline in pairs]
    arms = [a for a, _ in aligned]
    bases = [b for _, b in aligned]
    draw = draw_for(arms, settings)
    distributions, observed = _distributions(arms, draw, bases)
    estimates = {}
    for metric, distribution in distributions.items():
        estimates[metric] = Estimate(
            distribution.observed,
            distribution.interval(settings.level),
            len(draw.ids),
            len(arms),
            tuple(float(v) for v in observed[metric]),
            distribution,
            distribution.p_value(0.0),
        )
    return PairedComparison(estimates, _delong(aligned), sharing(arms))


def _delong(aligned: Sequence[tuple[PatientSet, PatientSet]]) -> float | None:
    """DeLong applies where every replicate scored the same patients (one split, a fixed
    external test folder, repeats of a cross-validation); None elsewhere."""
    first = aligned[0][0]
    if any(not np.array_equal(a.patients, first.patients) for a, _ in aligned):
        return None
    if len(first) < 2 or len(np.unique(first.labels)) < 2:
        return None
    scores_a = np.stack([a.scores for a, _ in aligned])
    scores_b = np.stack([b.scores for _, b in aligned])
    return delong_paired_p(scores_a, scores_b, first.labels)
