"""The numbers of a sweep summary: each arm's results, and each arm minus its baseline arm.

The question a sweep answers is whether an arm beats the baseline on the *same* patients. So
the primary comparison pairs arms by patient: each replicate's out-of-fold test patients are
pooled, both arms are scored on the same bootstrap resamples of patients, and the difference
gets a 95% interval (see `thermal_icas.evaluation.compare`). Run-level metrics (one value per
job) are summarised too, with an interval only from at least `MIN_REPLICATES` of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from thermal_icas.evaluation.compare import (
    Estimate,
    PairedComparison,
    PatientSet,
    arm_estimates,
    paired_difference,
    pool,
    replicate_interval,
    verdict,
)
from thermal_icas.evaluation.stats import BootstrapSettings
from thermal_icas.reporting.summary.collect import Arm, Job, Replicate, Settings, label_of

METRICS: dict[str, str] = {
    "test/auroc": "AUROC",
    "test/balanced_acc": "balanced acc",
    "test/sensitivity": "sensitivity",
    "test/specificity": "specificity",
    "test/f1": "F1",
    "test/patient/auroc": "patient AUROC",
    "test/attention/in_face": "attention in face",
}

NO_PAIRS = "no replicate finished in both arms"

Pooled = dict[Replicate, PatientSet]


@dataclass(frozen=True)
class ArmRow:
    """One arm: its value of each varying override (None where a job did not set it)."""

    arm: str
    settings: Settings
    n_runs: int
    n_failed: int
    mean: dict[str, float | None]
    std: dict[str, float | None]
    repeats: tuple[str, ...]
    patient: dict[str, Estimate] | None


@dataclass(frozen=True)
class Comparison:
    """Arm minus baseline for one run-level metric, over replicates both finished."""

    arm: str
    baseline: str
    metric: str
    n_pairs: int
    mean_diff: float | None
    ci: tuple[float, float] | None
    diffs: tuple[float, ...]

    @property
    def verdict(self) -> str:
        return NO_PAIRS if self.n_pairs == 0 else verdict(self.ci)


@dataclass(frozen=True)
class PatientComparison:
    """Arm minus baseline, paired by patient; `result` is None when no patient is shared."""

    arm: str
    baseline: str
    repeats: tuple[str, ...]
    result: PairedComparison | None


@dataclass(frozen=True)
class Comparisons:
    """Every non-baseline arm against its baseline arm; `unmatched` are arms without one."""

    runs: list[Comparison]
    patients: list[PatientComparison]
    unmatched: list[str]


def pooled_patients(label: str, jobs: Sequence[Job]) -> Pooled:
    """Per repeat (seed), the test patients of its finished folds as one set."""
    parts: dict[Replicate, list[Job]] = {}
    for job in jobs:
        if job.patients is not None:
            parts.setdefault(job.repeat, []).append(job)
    return {
        repeat: pool(
            [job.patients for job in repeat_jobs if job.patients is not None],
            f"arm '{label}' ({label_of(repeat)})",
        )
        for repeat, repeat_jobs in sorted(parts.items())
    }


def arm_row(label: str, arm: Arm, pooled: Pooled, bootstrap: BootstrapSettings) -> ArmRow:
    """Run level: mean and sample std over finished jobs; patient level: over pooled seeds."""
    finished = [job.metrics for job in arm.jobs if job.metrics is not None]
    mean: dict[str, float | None] = {}
    std: dict[str, float | None] = {}
    for metric in METRICS:
        values = np.array([m[metric] for m in finished if metric in m])
        mean[metric] = float(values.mean()) if values.size else None
        std[metric] = float(values.std(ddof=1)) if values.size >= 2 else None
    patient = arm_estimates(list(pooled.values()), bootstrap) if pooled else None
    repeats = tuple(label_of(repeat) for repeat in pooled)
    n_failed = len(arm.jobs) - len(finished)
    return ArmRow(label, arm.settings, len(finished), n_failed, mean, std, repeats, patient)


def baseline_arms(
    arms: Mapping[str, Arm], common: Mapping[str, str], baseline: Mapping[str, str]
) -> list[str]:
    """The arms whose settings, the common overrides included, match every baseline pair."""
    return [
        label
        for label, arm in arms.items()
        if all({**common, **arm.settings}.get(key) == value for key, value in baseline.items())
    ]


def compare_with_baselines(
    arms: Mapping[str, Arm],
    pooled: Mapping[str, Pooled],
    baseline: Mapping[str, str],
    baselines: Sequence[str],
    bootstrap: BootstrapSettings,
) -> Comparisons:
    """Each other arm against the baseline arm that shares its settings outside `baseline`."""
    runs: list[Comparison] = []
    patients: list[PatientComparison] = []
    unmatched: list[str] = []
    for label, arm in arms.items():
        if label in baselines:
            continue
        partner = _baseline_for(arm.settings, baseline, baselines, arms)
        if partner is None:
            unmatched.append(label)
            continue
        runs += _compare_runs(label, arm.jobs, partner, arms[partner].jobs)
        patients.append(
            _compare_patients(label, pooled[label], partner, pooled[partner], bootstrap)
        )
    return Comparisons(runs, patients, unmatched)


def _baseline_for(
    arm: Settings,
    baseline: Mapping[str, str],
    candidates: Sequence[str],
    arms: Mapping[str, Arm],
) -> str | None:
    """The baseline arm that agrees with `arm` on every varying key the baseline leaves free."""
    free = [key for key in arm if key not in baseline]
    for label in candidates:
        if all(arms[label].settings[key] == arm[key] for key in free):
            return label
    return None


def _compare_patients(
    label: str, pooled: Pooled, baseline: str, base_pooled: Pooled, bootstrap: BootstrapSettings
) -> PatientComparison:
    repeats = [
        repeat
        for repeat in pooled
        if repeat in base_pooled
        and np.intersect1d(pooled[repeat].patients, base_pooled[repeat].patients).size
    ]
    if not repeats:
        return PatientComparison(label, baseline, (), None)
    pairs = [(pooled[repeat], base_pooled[repeat]) for repeat in repeats]
    result = paired_difference(pairs, bootstrap)
    return PatientComparison(label, baseline, tuple(label_of(r) for r in repeats), result)


def _compare_runs(
    label: str, jobs: Sequence[Job], baseline_label: str, baseline_jobs: Sequence[Job]
) -> list[Comparison]:
    arm_metrics = {job.replicate: job.metrics for job in jobs if job.metrics is not None}
    base_metrics = {job.replicate: job.metrics for job in baseline_jobs if job.metrics is not None}
    comparisons = []
    for metric in METRICS:
        diffs = np.array(
            [
                arm_metrics[rep][metric] - base_metrics[rep][metric]
                for rep in arm_metrics
                if rep in base_metrics
                and metric in arm_metrics[rep]
                and metric in base_metrics[rep]
            ]
        )
        comparisons.append(
            Comparison(
                arm=label,
                baseline=baseline_label,
                metric=metric,
                n_pairs=int(diffs.size),
                mean_diff=float(diffs.mean()) if diffs.size else None,
                ci=replicate_interval(diffs),
                diffs=tuple(float(d) for d in diffs),
            )
        )
    return comparisons
