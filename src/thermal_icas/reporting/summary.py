"""One report for a Hydra sweep: each arm's patient-level result, and paired tests vs a baseline.

The question a sweep answers is whether an arm beats the baseline on the *same* patients. So
the primary comparison pairs arms by patient: each replicate's out-of-fold test patients are
pooled, both arms are scored on the same bootstrap resamples of patients, and the difference
gets a 95% interval (see `thermal_icas.evaluation.compare`). Run-level metrics (one value per
job) are summarised too, with an interval only from at least `MIN_REPLICATES` of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thermal_icas import run_files
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
from thermal_icas.reporting.summary_report import write_reports
from thermal_icas.reporting.sweep_jobs import (
    Job,
    Replicate,
    Settings,
    arm_label,
    check_unique_replicates,
    label_of,
    load_jobs,
    split_keys,
    split_override,
    thread_counts,
)

METRICS: dict[str, str] = {
    "test/auroc": "AUROC",
    "test/balanced_acc": "balanced acc",
    "test/sensitivity": "sensitivity",
    "test/specificity": "specificity",
    "test/f1": "F1",
    "test/patient/auroc": "patient AUROC",
    "test/attention/in_face": "attention in face",
}
DEFAULT_BASELINE = "mask=none,attention=off"


NO_PAIRS = "no replicate finished in both arms"


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
class FailedRun:
    job: str
    arm: str
    replicate: str
    reason: str


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
class Summary:
    root: Path
    common: dict[str, str]
    varying: list[str]
    rows: list[ArmRow]
    failed: list[FailedRun]
    baseline: dict[str, str]
    baseline_arms: list[str]
    comparisons: list[Comparison]
    patient_comparisons: list[PatientComparison]
    unmatched: list[str]
    n_bootstrap: int
    threads: list[int]
    csv_path: Path
    markdown_path: Path
    plot_path: Path


def parse_baseline(text: str) -> dict[str, str]:
    """`mask=none,attention=off`; spaces also separate, so an arm label can be pasted as is."""
    pairs = [item for item in text.replace(",", " ").split() if item]
    if not pairs or any("=" not in item for item in pairs):
        raise ValueError(
            f"baseline must be key=value pairs like '{DEFAULT_BASELINE}', got '{text}'"
        )
    return dict(split_override(item) for item in pairs)


def summarize_multirun(
    root: Path,
    baseline: str = DEFAULT_BASELINE,
    n_bootstrap: int = 10_000,
    seed: int = 0,
) -> Summary:
    """Read every job under `root`, write summary.md, summary.csv, comparisons.csv and
    summary.png into it."""
    baseline_pairs = parse_baseline(baseline)
    if n_bootstrap < 1:
        raise ValueError(f"bootstrap resamples must be at least 1, got {n_bootstrap}")
    bootstrap = BootstrapSettings(n_bootstrap, 0.95, seed)
    jobs = load_jobs(root)
    common, varying = split_keys(jobs)
    by_arm: dict[str, list[Job]] = {}
    settings: dict[str, Settings] = {}
    for job in jobs:
        arm_settings = {key: job.overrides.get(key) for key in varying}
        label = arm_label(arm_settings)
        by_arm.setdefault(label, []).append(job)
        settings[label] = arm_settings
    check_unique_replicates(by_arm)
    pooled = {label: _pooled_patients(label, arm_jobs) for label, arm_jobs in by_arm.items()}

    rows = [
        _arm_row(label, settings[label], by_arm[label], pooled[label], bootstrap)
        for label in by_arm
    ]
    failed = [
        FailedRun(job.path, label, label_of(job.replicate), job.reason)
        for label, arm_jobs in by_arm.items()
        for job in arm_jobs
        if job.metrics is None
    ]
    baseline_arms = [
        label
        for label in by_arm
        if all(
            {**common, **settings[label]}.get(key) == value for key, value in baseline_pairs.items()
        )
    ]
    comparisons: list[Comparison] = []
    patient_comparisons: list[PatientComparison] = []
    unmatched: list[str] = []
    for label in by_arm:
        if label in baseline_arms:
            continue
        partner = _baseline_for(settings[label], baseline_pairs, baseline_arms, settings)
        if partner is None:
            unmatched.append(label)
            continue
        comparisons += _compare_runs(label, by_arm[label], partner, by_arm[partner])
        patient_comparisons.append(
            _compare_patients(label, pooled[label], partner, pooled[partner], bootstrap)
        )

    summary = Summary(
        root=root,
        common=common,
        varying=varying,
        rows=rows,
        failed=failed,
        baseline=baseline_pairs,
        baseline_arms=baseline_arms,
        comparisons=comparisons,
        patient_comparisons=patient_comparisons,
        unmatched=unmatched,
        n_bootstrap=n_bootstrap,
        threads=thread_counts(jobs),
        csv_path=root / run_files.SUMMARY_CSV,
        markdown_path=root / run_files.SUMMARY_MARKDOWN,
        plot_path=root / "summary.png",
    )
    write_reports(summary, METRICS)
    return summary


def _pooled_patients(label: str, jobs: Sequence[Job]) -> dict[Replicate, PatientSet]:
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


def _arm_row(
    label: str,
    settings: Settings,
    jobs: Sequence[Job],
    pooled: Mapping[Replicate, PatientSet],
    bootstrap: BootstrapSettings,
) -> ArmRow:
    finished = [job.metrics for job in jobs if job.metrics is not None]
    mean: dict[str, float | None] = {}
    std: dict[str, float | None] = {}
    for metric in METRICS:
        values = np.array([m[metric] for m in finished if metric in m])
        mean[metric] = float(values.mean()) if values.size else None
        std[metric] = float(values.std(ddof=1)) if values.size >= 2 else None
    patient = arm_estimates(list(pooled.values()), bootstrap) if pooled else None
    repeats = tuple(label_of(repeat) for repeat in pooled)
    return ArmRow(
        label, settings, len(finished), len(jobs) - len(finished), mean, std, repeats, patient
    )


def _baseline_for(
    arm: Settings,
    baseline: Mapping[str, str],
    candidates: Sequence[str],
    settings: Mapping[str, Settings],
) -> str | None:
    """The baseline arm that agrees with `arm` on every varying key the baseline leaves free."""
    free = [key for key in arm if key not in baseline]
    for label in candidates:
        if all(settings[label][key] == arm[key] for key in free):
            return label
    return None


def _compare_patients(
    label: str,
    pooled: Mapping[Replicate, PatientSet],
    baseline: str,
    base_pooled: Mapping[Replicate, PatientSet],
    bootstrap: BootstrapSettings,
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
