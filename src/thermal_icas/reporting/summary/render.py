"""The files of a sweep summary: summary.md (also what the script prints), summary.html (the
same, with the plot), summary.csv, comparisons.csv and summary.png."""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from thermal_icas import run_files
from thermal_icas.evaluation.compare import MIN_REPLICATES, PAIRED_METRICS, Estimate, verdict
from thermal_icas.reporting.summary.collect import REPLICATE_KEYS
from thermal_icas.reporting.summary.document import (
    Block,
    Bullets,
    Figure,
    Heading,
    Table,
    html,
    markdown,
)
from thermal_icas.reporting.summary.statistics import METRICS, ArmRow
from thermal_icas.run_files import TEST_PATIENTS

if TYPE_CHECKING:
    from thermal_icas.reporting.summary import Summary

PATIENT_NAMES = {"auroc": "patient AUROC", "balanced_acc": "patient balanced acc"}
NO_SHARED_PATIENTS = f"no shared test patients (no {TEST_PATIENTS})"
PAIRED_HEADER = ("arm", "baseline", "metric", "n_patients", "difference", "ci_low", "ci_high", "p")


def write_reports(summary: Summary) -> None:
    _write_csv(summary.csv_path, _arm_header(summary), _arm_rows(summary))
    _write_csv(
        summary.root / run_files.SUMMARY_COMPARISONS, PAIRED_HEADER, _comparison_rows(summary)
    )
    _plot(summary)
    blocks = _document(summary)
    summary.markdown_path.write_text(markdown(blocks))
    page = html(f"Sweep summary: {summary.root.name}", blocks)
    summary.html_path.write_text(page, encoding="utf-8")


def _number(value: float | None, spec: str, missing: str = "") -> str:
    return missing if value is None or not math.isfinite(value) else format(value, spec)


def _interval(estimate: Estimate, spec: str = ".3f") -> str:
    low, high = estimate.ci
    return f"{estimate.value:{spec}} [{_number(low, spec, 'n/a')}, {_number(high, spec, 'n/a')}]"


def _signed_ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def _pairs(settings: Mapping[str, str]) -> str:
    return " ".join(f"`{key}={value}`" for key, value in settings.items())


def _settings(summary: Summary, row: ArmRow) -> list[str]:
    """The row's value of each varying override, blank where its jobs did not set it."""
    return [row.settings[key] or "" for key in summary.varying]


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _arm_header(summary: Summary) -> list[str]:
    pooled = [f"patient/{m}_{s}" for m in PAIRED_METRICS for s in ("pooled", "ci_low", "ci_high")]
    stats = [f"{metric}_{stat}" for metric in METRICS for stat in ("mean", "std")]
    return ["arm", *summary.varying, "n_runs", "n_failed", "n_patients", *pooled, *stats]


def _arm_rows(summary: Summary) -> Iterator[list[object]]:
    for row in summary.rows:
        patient = row.patient or {}
        pooled = [
            _number(v, ".6g")
            for m in PAIRED_METRICS
            for v in ((patient[m].value, *patient[m].ci) if m in patient else (None, None, None))
        ]
        stats = [_number(v, ".6g") for m in METRICS for v in (row.mean[m], row.std[m])]
        counts = [row.n_runs, row.n_failed, patient["auroc"].n_patients if patient else ""]
        yield [row.arm, *_settings(summary, row), *counts, *pooled, *stats]


def _comparison_rows(summary: Summary) -> Iterator[list[object]]:
    for comparison in summary.patient_comparisons:
        if comparison.result is None:
            continue
        for metric, estimate, p in comparison.result.by_metric():
            numbers = [_number(v, ".6g") for v in (estimate.value, *estimate.ci)]
            names = [comparison.arm, comparison.baseline, f"patient/{metric}"]
            yield [*names, estimate.n_patients, *numbers, _number(p, ".4g")]


def _document(summary: Summary) -> list[Block]:
    """Title and settings, the plot (on the page only), then the sections."""
    return [
        Heading(1, f"Sweep summary: {summary.root.name}"),
        _header(summary),
        Figure(summary.plot_path, "Left: pooled patient AUROC per arm, 95% CI; right: run level."),
        Heading(2, "Arms: patient level, pooled"),
        *_arm_patient_blocks(summary),
        Heading(2, "Paired by patient vs baseline"),
        *_paired_patient_blocks(summary),
        Heading(2, "Arms: run level"),
        *_arm_run_blocks(summary),
        Heading(2, "Run-level differences vs baseline"),
        *_paired_run_blocks(summary),
        Heading(2, "Failed runs"),
        *_failed_blocks(summary),
    ]


def _header(summary: Summary) -> Bullets:
    n_jobs = sum(row.n_runs + row.n_failed for row in summary.rows)
    n_failed = len(summary.failed)
    threads = ", ".join(map(str, summary.threads)) or "not recorded"
    items = [
        f"Folder: `{summary.root}`",
        f"Jobs: {n_jobs} ({n_jobs - n_failed} finished, {n_failed} failed)",
        f"Common overrides: {_pairs(summary.common) or 'none'}",
        f"Replicates: {', '.join(REPLICATE_KEYS)} (not part of an arm); the folds of one "
        "seed are pooled",
        f"Torch threads per job: {threads}",
    ]
    if len(summary.threads) > 1:
        items.append(
            "**Warning: the jobs ran with different thread counts.** Results change with the "
            "thread count (the order of floating-point sums), so arms are not comparable as run."
        )
    return Bullets(items)


def _arm_patient_blocks(summary: Summary) -> list[Block]:
    blocks: list[Block] = [
        "Each seed's out-of-fold test patients are pooled into one set (a cross-validation "
        "repeat scores every patient once); values are the mean over seeds of that set's "
        "patient-level metric (balanced accuracy at each job's val-chosen threshold). 95% CI "
        f"from {summary.n_bootstrap} bootstrap resamples of patients, drawn within each seed "
        "and class.",
    ]
    rows: list[list[str]] = []
    for row in summary.rows:
        if row.patient is not None:
            auroc, balanced = row.patient["auroc"], row.patient["balanced_acc"]
            per_seed = ", ".join(f"{v:.3f}" for v in auroc.per_replicate)
            counts = [str(len(row.repeats)), str(auroc.n_patients)]
            rows.append([row.arm, *counts, _interval(auroc), per_seed, _interval(balanced)])
    header = ["arm", "seeds", "patients", "patient AUROC [95% CI]", "per seed"]
    blocks.append(Table([*header, "patient balanced acc"], rows))
    if any(row.patient is None for row in summary.rows):
        blocks.append(f"Arms without {TEST_PATIENTS} in any finished job are left out here.")
    return blocks


def _paired_patient_blocks(summary: Summary) -> list[Block]:
    wanted = _pairs(summary.baseline)
    if not summary.baseline_arms:
        return [f"No baseline arm: no arm has {wanted}; pick one with `--baseline`."]
    text = (
        f"Baseline: {wanted}. Each arm is compared with the baseline arm that shares its other "
        "swept settings, on the patients both scored in the same seed: arm minus baseline, the "
        "mean over seeds; the 95% CI from the same bootstrap resamples of patients scoring both "
        "arms; DeLong's paired test where all seeds scored the same patients (their scores "
        "averaged per patient)."
    )
    rows: list[list[str]] = []
    for comparison in summary.patient_comparisons:
        names = [comparison.arm, comparison.baseline]
        if comparison.result is None:
            rows.append([*names, "n/a", "0", "n/a", "n/a", "n/a", NO_SHARED_PATIENTS])
            continue
        for metric, estimate, p in comparison.result.by_metric():
            what = [*names, PATIENT_NAMES[metric], str(estimate.n_patients)]
            numbers = [_number(estimate.value, "+.3f"), _signed_ci(estimate.ci)]
            rows.append([*what, *numbers, _number(p, ".3g", "n/a"), verdict(estimate.ci)])
    if not rows:
        return [text, "Only baseline arms ran: nothing to compare."]
    header = ["arm", "baseline", "metric", "patients", "difference", "95% CI", "DeLong p"]
    return [text, Table([*header, "verdict"], rows)]


def _arm_run_blocks(summary: Summary) -> list[Block]:
    text = (
        "Mean ± sample std (ddof=1) over finished jobs, one value per job (a fold's AUROC comes "
        "from its few test patients); std is n/a with fewer than 2."
    )
    header = ["arm", *summary.varying, "n_runs", "n_failed", *METRICS.values()]
    rows = [
        [row.arm, *_settings(summary, row), str(row.n_runs), str(row.n_failed)]
        + [_mean_std(row.mean[m], row.std[m]) for m in METRICS]
        for row in summary.rows
    ]
    return [text, Table(header, rows)]


def _mean_std(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.3f} ± {_number(std, '.3f', 'n/a')}"


def _paired_run_blocks(summary: Summary) -> list[Block]:
    blocks: list[Block] = [
        "Arm minus baseline per replicate (same seed/fold) that finished in both; 95% Student t "
        f"interval of the mean difference, shown only from {MIN_REPLICATES} pairs on.",
    ]
    header = ["metric", "pairs", "mean diff", "95% CI", "per replicate", "verdict"]
    for (arm, baseline), group in itertools.groupby(
        summary.comparisons, key=lambda c: (c.arm, c.baseline)
    ):
        rows = [
            [
                METRICS[c.metric],
                str(c.n_pairs),
                _number(c.mean_diff, "+.3f", "n/a"),
                "n/a" if c.ci is None else _signed_ci(c.ci),
                ", ".join(f"{d:+.3f}" for d in c.diffs) or "n/a",
                c.verdict,
            ]
            for c in group
        ]
        blocks += [Heading(3, f"{arm} vs {baseline}"), Table(header, rows)]
    if summary.unmatched:
        arms = ", ".join(f"`{arm}`" for arm in summary.unmatched)
        blocks.append(f"No matching baseline arm for: {arms}.")
    return blocks


def _failed_blocks(summary: Summary) -> list[Block]:
    if not summary.failed:
        return ["None."]
    rows = [[run.job, run.arm, run.replicate, run.reason] for run in summary.failed]
    return [Table(["job", "arm", "replicate", "reason"], rows)]


def _plot(summary: Summary) -> None:
    """Left: each arm's pooled patient AUROC with its 95% CI; right: run-level means ± std."""
    shown = [m for m in METRICS if any(row.mean[m] is not None for row in summary.rows)]
    size = (max(9.0, 4.0 + 0.4 * len(shown) * len(summary.rows)), 4.5)
    figure, (left, right) = plt.subplots(1, 2, figsize=size, gridspec_kw={"width_ratios": [1, 2]})
    for index, row in enumerate(summary.rows):
        if row.patient is not None:
            estimate = row.patient["auroc"]
            error = [[estimate.value - estimate.ci[0]], [estimate.ci[1] - estimate.value]]
            left.errorbar([index], [estimate.value], yerr=error, fmt="o", capsize=4)
    left.set_xticks(range(len(summary.rows)), [r.arm for r in summary.rows], rotation=30)
    left.tick_params(axis="x", labelsize="small")
    left.axhline(0.5, color="grey", linestyle="--", linewidth=0.8)
    left.set(ylabel="pooled patient AUROC, 95% CI", ylim=(0, 1.02), title="Patient level")
    width = 0.8 / len(summary.rows)
    positions = np.arange(len(shown))
    for index, row in enumerate(summary.rows):
        right.bar(
            positions + (index - (len(summary.rows) - 1) / 2) * width,
            [math.nan if row.mean[m] is None else row.mean[m] for m in shown],
            width,
            yerr=[row.std[m] or 0.0 for m in shown],
            capsize=3,
            label=row.arm,
        )
    right.set_xticks(positions, [METRICS[m] for m in shown], rotation=30)
    right.set_ylim(bottom=0)
    right.set(ylabel="mean ± std over jobs", title=f"Run level, sweep {summary.root.name}")
    right.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    figure.savefig(summary.plot_path, dpi=120)
    plt.close(figure)
