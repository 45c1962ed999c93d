"""Simulated sweeps with a known answer: how often does the paired verdict cry wolf, how often
does it find a real difference, and do the intervals cover the truth?

Scores are binormal: within a class each has unit variance, split into a patient's own level
(shared by every arm and seed), an arm's view of that patient (carried over the arm's seeds),
and seed noise, plus an offset per fold and arm (each fold trains its own model). An arm's
AUROC on a patient set is then Phi(d / sqrt 2) for the class separation d. The statistics are
the ones a summary runs (`compare.paired_difference`, `compare.arm_estimates`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from thermal_icas.core.evaluation.bootstrap import BootstrapSettings, holm
from thermal_icas.core.evaluation.compare import (
    PRIMARY_METRIC,
    PatientSet,
    arm_estimates,
    paired_difference,
)
from thermal_icas.core.evaluation.stats import delong_interval


@dataclass(frozen=True)
class Design:
    """One sweep: `arms` arms besides the baseline, `seeds` replicates of `folds` folds each
    on `positives` + `negatives` test patients (the same patients in every seed, or with
    `same_patients=False` each seed's own draw from a cohort three times larger)."""

    positives: int = 20
    negatives: int = 40
    seeds: int = 5
    folds: int = 1
    arms: int = 1
    auroc: float = 0.8
    difference: float = 0.0
    same_patients: bool = True
    patient_share: float = 0.5
    arm_share: float = 0.3
    fold_spread: float = 0.2

    def separation(self, auroc: float) -> float:
        return float(np.sqrt(2) * norm.ppf(auroc))


def _cohort(design: Design, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Patient ids and labels of the cohort the seeds draw from."""
    factor = 1 if design.same_patients else 3
    n_pos, n_neg = factor * design.positives, factor * design.negatives
    ids = np.array([f"P{i:05d}" for i in range(n_pos + n_neg)])
    return ids, np.r_[np.ones(n_pos, dtype=int), np.zeros(n_neg, dtype=int)]


def simulate_sweep(
    design: Design, rng: np.random.Generator
) -> tuple[list[PatientSet], list[list[PatientSet]]]:
    """The baseline's pooled set per seed, and each other arm's (arm 1 carries the
    difference, the others none)."""
    ids, labels = _cohort(design, rng)
    patient_level = rng.normal(size=len(ids))
    noise_share = 1 - design.patient_share - design.arm_share
    aurocs = [design.auroc, design.auroc + design.difference] + [design.auroc] * (design.arms - 1)
    views = [rng.normal(size=len(ids)) for _ in aurocs]
    sets: list[list[PatientSet]] = [[] for _ in aurocs]
    for _ in range(design.seeds):
        keep = _seed_patients(design, labels, rng)
        fold = rng.permutation(keep.size) % design.folds
        for arm, auroc in enumerate(aurocs):
            offset = rng.normal(0, design.fold_spread, design.folds)[fold]
            scores = (
                design.separation(auroc) * labels[keep]
                + np.sqrt(design.patient_share) * patient_level[keep]
                + np.sqrt(design.arm_share) * views[arm][keep]
                + np.sqrt(noise_share) * rng.normal(size=keep.size)
                + offset
            )
            predicted = scores > design.separation(auroc) / 2
            sets[arm].append(PatientSet(ids[keep], labels[keep], scores, predicted))
    return sets[0], sets[1:]


def _seed_patients(design: Design, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices (sorted, as pooled sets are) of one seed's test patients."""
    if design.same_patients:
        return np.arange(labels.size)
    positives = rng.choice(np.flatnonzero(labels == 1), design.positives, replace=False)
    negatives = rng.choice(np.flatnonzero(labels == 0), design.negatives, replace=False)
    return np.sort(np.r_[positives, negatives])


@dataclass(frozen=True)
class NullCheck:
    """Over `sweeps` simulated sweeps: the share whose first arm's verdict excluded 0, the share
    with any verdict excluding 0 before and after Holm, and how often the interval held the
    true difference (0 under the null)."""

    sweeps: int
    first_arm_rejects: float
    any_rejects: float
    any_rejects_holm: float
    covered: float


def null_check(
    design: Design, sweeps: int, settings: BootstrapSettings, level: float = 0.95
) -> NullCheck:
    rng = np.random.default_rng(settings.seed)
    first, any_raw, any_holm, covered = 0, 0, 0, 0
    for sweep in range(sweeps):
        baseline, arms = simulate_sweep(design, rng)
        draw = BootstrapSettings(settings.n_resamples, level, settings.seed + sweep)
        results = [
            paired_difference(list(zip(arm, baseline, strict=True)), draw).estimates[PRIMARY_METRIC]
            for arm in arms
        ]
        p_values = np.array([r.p for r in results], dtype=float)
        first += bool(p_values[0] < 1 - level)
        any_raw += bool((p_values < 1 - level).any())
        any_holm += bool((holm(p_values) < 1 - level).any())
        low, high = results[0].ci
        covered += bool(low <= design.difference <= high)
    return NullCheck(sweeps, first / sweeps, any_raw / sweeps, any_holm / sweeps, covered / sweeps)


def coverage(
    positives: int, negatives: int, auroc: float, sims: int, settings: BootstrapSettings
) -> dict[str, float]:
    """Share of `sims` single test splits whose interval holds the true AUROC: the summary's
    BCa patient bootstrap and DeLong's logit interval (the run's two)."""
    design = Design(positives, negatives, seeds=1, arms=1, auroc=auroc, fold_spread=0.0)
    rng = np.random.default_rng(settings.seed)
    hits = {"bca": 0, "delong_logit": 0}
    for sim in range(sims):
        (patients,), _ = simulate_sweep(design, rng)
        draw = BootstrapSettings(settings.n_resamples, settings.level, settings.seed + sim)
        low, high = arm_estimates([patients], draw)[PRIMARY_METRIC].ci
        hits["bca"] += low <= auroc <= high
        low, high = delong_interval(patients.scores, patients.labels, settings.level)
        hits["delong_logit"] += low <= auroc <= high
    return {name: count / sims for name, count in hits.items()}


def coverage_grid(
    sizes: list[tuple[int, int]], aurocs: list[float], sims: int, settings: BootstrapSettings
) -> Iterator[tuple[int, int, float, dict[str, float]]]:
    for positives, negatives in sizes:
        for auroc in aurocs:
            yield positives, negatives, auroc, coverage(positives, negatives, auroc, sims, settings)
