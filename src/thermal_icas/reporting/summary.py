"""One table for a Hydra sweep: each arm's metrics over replicates, and paired tests vs a baseline.

A single run's numbers say little on a small cohort; the question a sweep answers is whether an
arm beats the baseline on the *same* seeds and folds, so differences are paired by replicate and
given a bootstrap confidence interval instead of being read off two means.
"""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import yaml

from thermal_icas.reporting.results import METRICS_FILE

METRICS: dict[str, str] = {
    "test/auroc": "AUROC",
    "test/balanced_acc": "balanced acc",
    "test/sensitivity": "sensitivity",
    "test/specificity": "specificity",
    "test/f1": "F1",
    "test/attention/in_face": "attention in face",
}
REPLICATE_KEYS = ("seed", "data.fold", "data.split_seed")
DEFAULT_BASELINE = "mask=none,attention=off"
ERROR_FILE = "error.txt"
CSV_FILE = "summary.csv"
MARKDOWN_FILE = "summary.md"
PLOT_FILE = "summary.png"

INCLUDES_ZERO = "CI includes 0: no evidence of a difference"
EXCLUDES_ZERO = "CI excludes 0"
TOO_FEW_PAIRS = "fewer than 2 pairs: CI cannot be computed"

Settings = dict[str, str | None]


@dataclass(frozen=True)
class ArmRow:
    """One arm: its value of each varying override (None where a job did not set it)."""

    arm: str
    settings: Settings
    n_runs: int
    n_failed: int
    mean: dict[str, float | None]
    std: dict[str, float | None]


@dataclass(frozen=True)
class FailedRun:
    job: str
    arm: str
    replicate: str
    reason: str


@dataclass(frozen=True)
class Comparison:
    """Arm minus baseline for one metric, over replicates both finished."""

    arm: str
    baseline: str
    metric: str
    n_pairs: int
    mean_diff: float | None
    ci: tuple[float, float] | None

    @property
    def verdict(self) -> str:
        if self.ci is None:
            return TOO_FEW_PAIRS
        low, high = self.ci
        return INCLUDES_ZERO if low <= 0 <= high else EXCLUDES_ZERO


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
    unmatched: list[str]
    n_bootstrap: int
    csv_path: Path
    markdown_path: Path
    plot_path: Path


@dataclass(frozen=True)
class _Job:
    path: str
    overrides: dict[str, str]
    metrics: dict[str, float] | None
    reason: str


def parse_baseline(text: str) -> dict[str, str]:
    """`mask=none,attention=off`; spaces also separate, so an arm label can be pasted as is."""
    pairs = [item for item in re.split(r"[,\s]+", text.strip()) if item]
    if not pairs or any("=" not in item for item in pairs):
        raise ValueError(
            f"baseline must be key=value pairs like '{DEFAULT_BASELINE}', got '{text}'"
        )
    return dict(_split_override(item) for item in pairs)


def summarize_multirun(
    root: Path,
    baseline: str = DEFAULT_BASELINE,
    n_bootstrap: int = 10_000,
    seed: int = 0,
) -> Summary:
    """Read every job under `root`, write summary.csv, summary.md and summary.png into it."""
    baseline_pairs = parse_baseline(baseline)
    if n_bootstrap < 1:
        raise ValueError(f"bootstrap resamples must be at least 1, got {n_bootstrap}")
    jobs = _load_jobs(root)
    common, varying = _split_keys(jobs)
    by_arm: dict[str, list[_Job]] = {}
    settings: dict[str, Settings] = {}
    for job in jobs:
        arm_settings = {key: job.overrides.get(key) for key in varying}
        label = _arm_label(arm_settings)
        by_arm.setdefault(label, []).append(job)
        settings[label] = arm_settings
    _check_unique_replicates(by_arm)

    rows = [_arm_row(label, settings[label], arm_jobs) for label, arm_jobs in by_arm.items()]
    failed = [
        FailedRun(job.path, label, _replicate_label(job), job.reason)
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
    unmatched: list[str] = []
    for label in by_arm:
        if label in baseline_arms:
            continue
        partner = _baseline_for(settings[label], baseline_pairs, baseline_arms, settings)
        if partner is None:
            unmatched.append(label)
            continue
        comparisons.extend(
            _compare(label, by_arm[label], partner, by_arm[partner], n_bootstrap, seed)
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
        unmatched=unmatched,
        n_bootstrap=n_bootstrap,
        csv_path=root / CSV_FILE,
        markdown_path=root / MARKDOWN_FILE,
        plot_path=root / PLOT_FILE,
    )
    _write_csv(summary)
    summary.markdown_path.write_text(_markdown(summary))
    _plot(summary)
    return summary


def _split_override(item: str) -> tuple[str, str]:
    """`+key=value` and `++key=value` name the same setting as `key=value`."""
    key, _, value = item.partition("=")
    return key.lstrip("+"), value


def _natural_key(path: str) -> list[int | str]:
    """Job 10 after job 9, so arms keep the order in which the sweep was written."""
    return [int(part) if index % 2 else part for index, part in enumerate(re.split(r"(\d+)", path))]


def _load_jobs(root: Path) -> list[_Job]:
    if not root.is_dir():
        raise FileNotFoundError(f"multirun folder '{root}' does not exist or is not a folder")
    override_files = [p for p in root.rglob("overrides.yaml") if p.parent.name == ".hydra"]
    if not override_files:
        raise FileNotFoundError(f"no Hydra jobs (.hydra/overrides.yaml) under '{root}'")
    jobs = []
    for override_file in override_files:
        job_dir = override_file.parent.parent
        metrics = _read_metrics(job_dir / METRICS_FILE)
        jobs.append(
            _Job(
                path=job_dir.relative_to(root).as_posix(),
                overrides=_read_overrides(override_file),
                metrics=metrics,
                reason="" if metrics is not None else _failure_reason(job_dir),
            )
        )
    return sorted(jobs, key=lambda job: _natural_key(job.path))


def _read_overrides(path: Path) -> dict[str, str]:
    try:
        items = yaml.safe_load(path.read_text()) or []
    except yaml.YAMLError as error:
        raise ValueError(f"'{path}' is not valid YAML: {error}") from error
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"'{path}' should be a YAML list of key=value strings")
    return dict(_split_override(item) for item in items)


def _read_metrics(path: Path) -> dict[str, float] | None:
    """Only finite numbers count: a NaN AUROC (single-class test set) is a missing value."""
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    if not isinstance(raw, dict):
        return None
    return {
        key: float(value)
        for key, value in raw.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def _failure_reason(job_dir: Path) -> str:
    if (job_dir / METRICS_FILE).is_file():
        return f"{METRICS_FILE} is not a readable JSON object"
    error = job_dir / ERROR_FILE
    if not error.is_file():
        return f"no {METRICS_FILE} and no {ERROR_FILE}"
    lines = error.read_text(errors="replace").strip().splitlines()
    return lines[0].strip() if lines else f"{ERROR_FILE} is empty"


def _split_keys(jobs: Sequence[_Job]) -> tuple[dict[str, str], list[str]]:
    """Common: set to one value in every job. Varying: the rest, minus the replicate keys."""
    keys = sorted({key for job in jobs for key in job.overrides} - set(REPLICATE_KEYS))
    common = {}
    varying = []
    for key in keys:
        values = {job.overrides.get(key) for job in jobs}
        if len(values) == 1 and None not in values:
            common[key] = values.pop()
        else:
            varying.append(key)
    return common, varying


def _arm_label(settings: Settings) -> str:
    if not settings:
        return "all"
    parts = [f"{key}={value}" for key, value in settings.items() if value is not None]
    return " ".join(parts) or "(no overrides)"


def _replicate(job: _Job) -> tuple[tuple[str, str], ...]:
    return tuple((key, job.overrides[key]) for key in REPLICATE_KEYS if key in job.overrides)


def _replicate_label(job: _Job) -> str:
    return " ".join(f"{key}={value}" for key, value in _replicate(job)) or "-"


def _check_unique_replicates(by_arm: Mapping[str, Sequence[_Job]]) -> None:
    """Pairing by replicate is meaningless if one arm ran the same replicate twice."""
    for label, jobs in by_arm.items():
        seen: dict[tuple[tuple[str, str], ...], str] = {}
        for job in jobs:
            first = seen.setdefault(_replicate(job), job.path)
            if first != job.path:
                raise ValueError(
                    f"jobs '{first}' and '{job.path}' are the same replicate of arm '{label}'"
                )


def _arm_row(label: str, settings: Settings, jobs: Sequence[_Job]) -> ArmRow:
    finished = [job.metrics for job in jobs if job.metrics is not None]
    mean: dict[str, float | None] = {}
    std: dict[str, float | None] = {}
    for metric in METRICS:
        values = np.array([m[metric] for m in finished if metric in m])
        mean[metric] = float(values.mean()) if values.size else None
        std[metric] = float(values.std(ddof=1)) if values.size >= 2 else None
    return ArmRow(label, settings, len(finished), len(jobs) - len(finished), mean, std)


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


def _compare(
    label: str,
    jobs: Sequence[_Job],
    baseline_label: str,
    baseline_jobs: Sequence[_Job],
    n_bootstrap: int,
    seed: int,
) -> list[Comparison]:
    arm_metrics = {_replicate(job): job.metrics for job in jobs if job.metrics is not None}
    base_metrics = {
        _replicate(job): job.metrics for job in baseline_jobs if job.metrics is not None
    }
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
                ci=_bootstrap_ci(diffs, n_bootstrap, seed) if diffs.size >= 2 else None,
            )
        )
    return comparisons


def _bootstrap_ci(diffs: np.ndarray, n_bootstrap: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of the mean paired difference.

    A fresh generator per comparison keeps each interval the same whichever other arms ran.
    """
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, diffs.size, size=(n_bootstrap, diffs.size))
    low, high = np.percentile(diffs[picks].mean(axis=1), [2.5, 97.5])
    return float(low), float(high)


def _write_csv(summary: Summary) -> None:
    with summary.csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        stats = [f"{metric}_{stat}" for metric in METRICS for stat in ("mean", "std")]
        writer.writerow(["arm", *summary.varying, "n_runs", "n_failed", *stats])
        for row in summary.rows:
            writer.writerow(
                [
                    row.arm,
                    *(row.settings[key] or "" for key in summary.varying),
                    row.n_runs,
                    row.n_failed,
                    *(_number(v, ".6g") for m in METRICS for v in (row.mean[m], row.std[m])),
                ]
            )


def _number(value: float | None, spec: str, missing: str = "") -> str:
    return missing if value is None else format(value, spec)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _markdown(summary: Summary) -> str:
    n_jobs = sum(row.n_runs + row.n_failed for row in summary.rows)
    common = " ".join(f"`{key}={value}`" for key, value in summary.common.items()) or "none"
    lines = [
        f"# Sweep summary: {summary.root.name}",
        "",
        f"- Folder: `{summary.root}`",
        f"- Jobs: {n_jobs} ({n_jobs - len(summary.failed)} finished, {len(summary.failed)} failed)",
        f"- Common overrides: {common}",
        f"- Replicates: {', '.join(REPLICATE_KEYS)} (not part of an arm)",
        "",
        "## Arms",
        "",
        "Mean ± sample std (ddof=1) over finished replicates; std is n/a with fewer than 2.",
        "",
    ]
    header = ["arm", *summary.varying, "n_runs", "n_failed", *METRICS.values()]
    lines += _table(
        header,
        [
            [
                row.arm,
                *(row.settings[key] or "" for key in summary.varying),
                str(row.n_runs),
                str(row.n_failed),
                *(_mean_std(row.mean[m], row.std[m]) for m in METRICS),
            ]
            for row in summary.rows
        ],
    )
    lines += ["", "## Paired comparison vs baseline", "", *_comparison_lines(summary)]
    lines += ["", "## Failed runs", ""]
    if summary.failed:
        lines += _table(
            ["job", "arm", "replicate", "reason"],
            [[run.job, run.arm, run.replicate, run.reason] for run in summary.failed],
        )
    else:
        lines.append("None.")
    return "\n".join(lines) + "\n"


def _mean_std(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.3f} ± {_number(std, '.3f', 'n/a')}"


def _comparison_lines(summary: Summary) -> list[str]:
    wanted = " ".join(f"`{key}={value}`" for key, value in summary.baseline.items())
    if not summary.baseline_arms:
        return [f"No baseline arm: no arm has {wanted}; pick one with `--baseline`."]
    lines = [
        f"Baseline: {wanted}. Each arm is compared with the baseline arm that shares its other "
        "swept settings. Differences are arm minus baseline over replicates (same seed/fold) that "
        f"finished in both; 95% CI from {summary.n_bootstrap} paired bootstrap resamples "
        "(percentile). With only a few pairs that interval is too narrow: read it as a guide.",
    ]
    if not summary.comparisons and not summary.unmatched:
        lines += ["", "Only baseline arms ran: nothing to compare."]
    for (arm, baseline), group in itertools.groupby(
        summary.comparisons, key=lambda c: (c.arm, c.baseline)
    ):
        lines += ["", f"### {arm} vs {baseline}", ""]
        lines += _table(
            ["metric", "pairs", "mean diff", "95% CI", "verdict"],
            [
                [
                    METRICS[c.metric],
                    str(c.n_pairs),
                    _number(c.mean_diff, "+.3f", "n/a"),
                    "n/a" if c.ci is None else f"[{c.ci[0]:+.3f}, {c.ci[1]:+.3f}]",
                    c.verdict,
                ]
                for c in group
            ],
        )
    if summary.unmatched:
        arms = ", ".join(f"`{arm}`" for arm in summary.unmatched)
        lines += ["", f"No matching baseline arm for: {arms}."]
    return lines


def _plot(summary: Summary) -> None:
    metrics = [m for m in METRICS if any(row.mean[m] is not None for row in summary.rows)]
    width = 0.8 / len(summary.rows)
    positions = np.arange(len(metrics))
    figure, axes = plt.subplots(
        figsize=(max(6.0, 2.0 + 0.3 * len(metrics) * len(summary.rows)), 4.5)
    )
    for index, row in enumerate(summary.rows):
        axes.bar(
            positions + (index - (len(summary.rows) - 1) / 2) * width,
            [math.nan if row.mean[m] is None else row.mean[m] for m in metrics],
            width,
            yerr=[row.std[m] or 0.0 for m in metrics],
            capsize=3,
            label=row.arm,
        )
    axes.set_xticks(positions, [METRICS[m] for m in metrics])
    axes.set_ylim(bottom=0)
    axes.set(ylabel="mean ± std over replicates", title=f"Sweep {summary.root.name}")
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    figure.savefig(summary.plot_path, dpi=120)
    plt.close(figure)
