"""One report for a Hydra sweep: each arm's patient-level result, and paired tests vs a baseline.

`collect` reads the sweep's jobs, `statistics` computes the numbers, `render` writes the files;
`summarize_multirun` runs the three in turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from thermal_icas.analysis.summary.collect import (
    FailedRun,
    failed_runs,
    group_arms,
    load_jobs,
    split_keys,
    split_override,
    thread_counts,
)
from thermal_icas.analysis.summary.domain import drops
from thermal_icas.analysis.summary.render import write_reports
from thermal_icas.analysis.summary.statistics import (
    METRICS,
    NO_PAIRS,
    ArmRow,
    Comparison,
    PatientComparison,
    adjust_family,
    arm_row,
    baseline_arms,
    compare_with_baselines,
    pooled_patients,
)
from thermal_icas.core import run_files
from thermal_icas.core.evaluation.compare import Estimate
from thermal_icas.core.evaluation.stats import BootstrapSettings

__all__ = [
    "DEFAULT_BASELINE",
    "METRICS",
    "NO_PAIRS",
    "ArmRow",
    "Comparison",
    "FailedRun",
    "PatientComparison",
    "Summary",
    "parse_baseline",
    "summarize_multirun",
]

DEFAULT_BASELINE = "mask=none,attention=off"


@dataclass(frozen=True)
class Summary:
    """Everything the report shows, and where its files were written."""

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
    simultaneous: bool
    threads: list[int]
    csv_path: Path
    markdown_path: Path
    plot_path: Path
    html_path: Path
    # `--view shift`: the scores on another camera, and each arm's drop to them
    view: str = ""
    drops: dict[str, Estimate] | None = None


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
    simultaneous: bool = False,
    view: str = "",
) -> Summary:
    """Read every job under `root`, write summary.md, summary.html, summary.csv,
    comparisons.csv and summary.png into it. With `simultaneous`, the intervals of the primary
    comparisons hold jointly (Bonferroni) instead of one at a time. With `view` (`shift`), the
    jobs' results in that sub-folder are summarised, into root/<view>/, with each arm's drop
    from its own test."""
    baseline_pairs = parse_baseline(baseline)
    if n_bootstrap < 1:
        raise ValueError(f"bootstrap resamples must be at least 1, got {n_bootstrap}")
    bootstrap = BootstrapSettings(n_bootstrap, 0.95, seed)
    jobs = load_jobs(root, view)
    common, varying = split_keys(jobs)
    arms = group_arms(jobs, varying)
    pooled = {label: pooled_patients(label, arm.jobs) for label, arm in arms.items()}
    rows = [arm_row(label, arm, pooled[label], bootstrap) for label, arm in arms.items()]
    baselines = baseline_arms(arms, common, baseline_pairs)
    comparisons = compare_with_baselines(arms, pooled, baseline_pairs, baselines, bootstrap)
    out = root / view
    out.mkdir(exist_ok=True)
    summary = Summary(
        root=root,
        common=common,
        varying=varying,
        rows=rows,
        failed=failed_runs(arms),
        baseline=baseline_pairs,
        baseline_arms=baselines,
        comparisons=comparisons.runs,
        patient_comparisons=adjust_family(comparisons.patients, 0.95, simultaneous),
        unmatched=comparisons.unmatched,
        n_bootstrap=n_bootstrap,
        simultaneous=simultaneous,
        threads=thread_counts(jobs),
        csv_path=out / run_files.SUMMARY_CSV,
        markdown_path=out / run_files.SUMMARY_MARKDOWN,
        plot_path=out / run_files.SUMMARY_PLOT,
        html_path=out / run_files.SUMMARY_HTML,
        view=view,
        drops=drops(root, pooled, bootstrap) if view else None,
    )
    write_reports(summary)
    return summary
