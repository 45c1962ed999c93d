"""The numbers of a sweep summary: each arm's results, and each arm minus its baseline arm.

The question a sweep answers is whether an arm beats the baseline on the *same* patients. So
the primary comparison pairs arms by patient: each replicate's out-of-fold test patients are
pooled, both arms and every replicate are scored on the same bootstrap resamples of patients,
and the difference gets a BCa interval and a p-value (see `thermal_icas.core.evaluation.compare`).
The family is every paired comparison of patient AUROC the summary prints: its p-values are
Holm-adjusted and the verdict reads the adjusted one. Balanced accuracy and the run-level
metrics (one value per job, Nadeau-Bengio corrected t from `MIN_REPLICATES` jobs on) are
exploratory: unadjusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from thermal_icas.analysis.summary.collect import Arm, Job, Replicate, Settings, label_of
from thermal_icas.core.evaluation.bootstrap import BootstrapSettings, Interval, holm
from thermal_icas.core.evaluation.compare import (
    PRIMARY_METRIC,
    Estimate,
    PairedComparison,
    PatientSet,
    arm_estimates,
    paired_difference,
    pool,
    sharing,
)
from thermal_icas.core.evaluation.metrics import METRICS as REGISTRY
from thermal_icas.core.evaluation.stats import corrected_t_interval

# the run-level columns: image metrics, the patient AUROC, where the model looks
METRICS: dict[str, str] = {
    **{f"test/{n}": REGISTRY[n].label for n in ("auroc", "balanced_acc", "sensitivity")},
    **{f"test/{n}": REGISTRY[n].label for n in ("specificity", "f1")},
    "test/patient/auroc": f"patient {REGISTRY['auroc'].label}",
    "test/attention/in_face": "attention in face",
}

NO_PAIRS = "n/a: no replicate finished in both arms"
# a run-level interval from fewer values than this is not shown: with three values any three
# same-signed differences would "exclude 0"
MIN_REPLICATES = 5
TOO_FEW_PAIRS = (
    f"n/a: fewer than {MIN_REPLICATES} replicates (the per-replicate values are shown; the "
    "patient-level comparison is the test)"
)
NO_SPLITS = "n/a: no splits.csv in a job, so the overlap of training sets is unknown"
ALPHA = 0.05


def primary_verdict(estimate: Estimate, ci: Interval, adjusted_p: float | None, family: int) -> str:
    """The verdict of a comparison in the Holm family, read from its adjusted p-value; `ci`
    is the interval shown beside it."""
    low, high = ci
    if not np.isfinite(estimate.value):
        return "n/a: no resample scored both classes in both arms"
    if adjusted_p is None or not np.isfinite(adjusted_p) or not np.isfinite([low, high]).all():
        return "n/a: the bootstrap gave no interval (too few patients of a class)"
    if adjusted_p < ALPHA:
        return f"excludes 0 after Holm ({family} comparisons)"
    return (
        f"not significant at 5% after Holm ({family} comparisons); compatible with "
        f"differences from {low:+.3f} to {high:+.3f}"
    )


def exploratory_verdict(ci: Interval | None, missing: str) -> str:
    """A secondary metric's verdict: its own unadjusted interval, labelled as such."""
    if ci is None:
        return missing
    if not np.isfinite(ci).all():
        return "n/a: the interval is undefined (too few patients of a class)"
    side = "includes" if ci[0] <= 0 <= ci[1] else "excludes"
    return f"exploratory, unadjusted: CI {side} 0"


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
    sharing: str = ""


@dataclass(frozen=True)
class Comparison:
    """Arm minus baseline for one run-level metric, over replicates both finished."""

    arm: str
    baseline: str
    metric: str
    n_pairs: int
    mean_diff: float | None
    ci: Interval | None
    diffs: tuple[float, ...]
    missing: str = TOO_FEW_PAIRS

    @property
    def verdict(self) -> str:
        return NO_PAIRS if self.n_pairs == 0 else exploratory_verdict(self.ci, self.missing)


@dataclass(frozen=True)
class PatientComparison:
    """Arm minus baseline, paired by patient; `result` is None when no patient is shared.
    `adjusted_p` is the primary metric's Holm-adjusted p-value, `primary_ci` the interval the
    summary shows for it (simultaneous when asked for)."""

    arm: str
    baseline: str
    repeats: tuple[str, ...]
    result: PairedComparison | None
    adjusted_p: float | None = None
    primary_ci: Interval | None = None

    def shown_ci(self, metric: str, estimate: Estimate) -> Interval:
        """The interval the summary shows: for the primary metric, simultaneous when asked."""
        if metric == PRIMARY_METRIC and self.primary_ci is not None:
            return self.primary_ci
        return estimate.ci


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
    sets = list(pooled.values())
    patient = arm_estimates(sets, bootstrap) if pooled else None
    repeats = tuple(label_of(repeat) for repeat in pooled)
    n_failed = len(arm.jobs) - len(finished)
    shared = sharing(sets) if sets else ""
    return ArmRow(label, arm.settings, len(finished), n_failed, mean, std, repeats, patient, shared)


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


def adjust_family(
    comparisons: Sequence[PatientComparison], level: float, simultaneous: bool
) -> list[PatientComparison]:
    """Holm-adjusted p-values of the primary metric over every comparison with a result and,
    with `simultaneous`, Bonferroni-level intervals (level 1 - (1 - level) / k) for it."""
    primary = [
        None if c.result is None else c.result.estimates[PRIMARY_METRIC] for c in comparisons
    ]
    family = sum(estimate is not None for estimate in primary)
    adjusted = holm([np.nan if e is None or e.p is None else e.p for e in primary])
    joint = 1 - (1 - level) / max(family, 1) if simultaneous else level
    return [
        comparison
        if estimate is None
        else replace(
            comparison,
            adjusted_p=float(p),
            primary_ci=estimate.distribution.interval(joint) if simultaneous else estimate.ci,
        )
        for comparison, estimate, p in zip(comparisons, primary, adjusted, strict=True)
    ]


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
    ratios = [job.test_train_ratio for job in [*jobs, *baseline_jobs] if job.metrics is not None]
    ratio = None if not ratios or None in ratios else float(np.mean(ratios))  # type: ignore[arg-type]
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
        enough = diffs.size >= MIN_REPLICATES and ratio is not None
        comparisons.append(
            Comparison(
                arm=label,
                baseline=baseline_label,
                metric=metric,
                n_pairs=int(diffs.size),
                mean_diff=float(diffs.mean()) if diffs.size else None,
                ci=corrected_t_interval(diffs, ratio, 0.95) if enough else None,  # type: ignore[arg-type]
                diffs=tuple(float(d) for d in diffs),
                missing=TOO_FEW_PAIRS if diffs.size < MIN_REPLICATES else NO_SPLITS,
            )
        )
    return comparisons
