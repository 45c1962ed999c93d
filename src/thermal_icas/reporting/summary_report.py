"""The files of a sweep summary: summary.md, summary.csv, comparisons.csv and summary.png."""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from thermal_icas.evaluation.compare import MIN_REPLICATES, PAIRED_METRICS, Estimate, verdict
from thermal_icas.reporting.sweep_jobs import REPLICATE_KEYS

if TYPE_CHECKING:
    from thermal_icas.reporting.summary import Summary

PATIENT_NAMES = {"auroc": "patient AUROC", "balanced_acc": "patient balanced acc"}


def write_reports(summary: Summary, metrics: dict[str, str]) -> None:
    _write_csv(summary, metrics)
    _write_comparisons_csv(summary)
    summary.markdown_path.write_text(_markdown(summary, metrics))
    _plot(summary, metrics)


def _number(value: float | None, spec: str, missing: str = "") -> str:
    return missing if value is None or not math.isfinite(value) else format(value, spec)


def _interval(estimate: Estimate, spec: str = ".3f") -> str:
    low, high = estimate.ci
    return f"{estimate.value:{spec}} [{_number(low, spec, 'n/a')}, {_number(high, spec, 'n/a')}]"


def _write_csv(summary: Summary, metrics: dict[str, str]) -> None:
    with summary.csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        pooled = [
            f"patient/{m}_{s}" for m in PAIRED_METRICS for s in ("pooled", "ci_low", "ci_high")
        ]
        stats = [f"{metric}_{stat}" for metric in metrics for stat in ("mean", "std")]
        header = ["arm", *summary.varying, "n_runs", "n_failed", "n_patients", *pooled, *stats]
        writer.writerow(header)
        for row in summary.rows:
            patient = row.patient or {}
            values = [
                _number(v, ".6g")
                for m in PAIRED_METRICS
                for v in (
                    (patient[m].value, *patient[m].ci) if m in patient else (None, None, None)
                )
            ]
            n_patients = patient["auroc"].n_patients if patient else ""
            writer.writerow(
                [
                    row.arm,
                    *(row.settings[key] or "" for key in summary.varying),
                    row.n_runs,
                    row.n_failed,
                    n_patients,
                    *values,
                    *(_number(v, ".6g") for m in metrics for v in (row.mean[m], row.std[m])),
                ]
            )


def _write_comparisons_csv(summary: Summary) -> None:
    with (summary.root / "comparisons.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["arm", "baseline", "metric", "n_patients", "difference", "ci_low", "ci_high", "p"]
        )
        for comparison in summary.patient_comparisons:
            if comparison.result is None:
                continue
            for metric, estimate, p in comparison.result.by_metric():
                writer.writerow(
                    [
                        comparison.arm,
                        comparison.baseline,
                        f"patient/{metric}",
                        estimate.n_patients,
                        *(_number(v, ".6g") for v in (estimate.value, *estimate.ci)),
                        _number(p, ".4g"),
                    ]
                )


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return lines


def _markdown(summary: Summary, metrics: dict[str, str]) -> str:
    n_jobs = sum(row.n_runs + row.n_failed for row in summary.rows)
    common = " ".join(f"`{key}={value}`" for key, value in summary.common.items()) or "none"
    threads = ", ".join(map(str, summary.threads)) or "not recorded"
    lines = [
        f"# Sweep summary: {summary.root.name}",
        "",
        f"- Folder: `{summary.root}`",
        f"- Jobs: {n_jobs} ({n_jobs - len(summary.failed)} finished, {len(summary.failed)} failed)",
        f"- Common overrides: {common}",
        f"- Replicates: {', '.join(REPLICATE_KEYS)} (not part of an arm); the folds of one "
        "seed are pooled",
        f"- Torch threads per job: {threads}",
    ]
    if len(summary.threads) > 1:
        lines.append(
            "- **Warning: the jobs ran with different thread counts.** Results change with the "
            "thread count (the order of floating-point sums), so arms are not comparable as run."
        )
    lines += ["", "## Arms: patient level, pooled", ""]
    lines += [
        "Each seed's out-of-fold test patients are pooled into one set (a cross-validation "
        "repeat scores every patient once); values are the mean over seeds of that set's "
        "patient-level metric (balanced accuracy at each job's val-chosen threshold). 95% CI "
        f"from {summary.n_bootstrap} bootstrap resamples of patients, drawn within each seed "
        "and class.",
        "",
    ]
    lines += _table(
        ["arm", "seeds", "patients", "patient AUROC [95% CI]", "per seed", "patient balanced acc"],
        [
            [
                row.arm,
                str(len(row.repeats)),
                str(row.patient["auroc"].n_patients),
                _interval(row.patient["auroc"]),
                ", ".join(f"{v:.3f}" for v in row.patient["auroc"].per_replicate),
                _interval(row.patient["balanced_acc"]),
            ]
            for row in summary.rows
            if row.patient is not None
        ],
    )
    if any(row.patient is None for row in summary.rows):
        lines += ["", "Arms without test_patients.csv in any finished job are left out here."]
    lines += ["", "## Paired by patient vs baseline", "", *_patient_lines(summary)]
    lines += ["", "## Arms: run level", ""]
    lines += [
        "Mean ± sample std (ddof=1) over finished jobs, one value per job (a fold's AUROC comes "
        "from its few test patients); std is n/a with fewer than 2.",
        "",
    ]
    header = ["arm", *summary.varying, "n_runs", "n_failed", *metrics.values()]
    lines += _table(
        header,
        [
            [
                row.arm,
                *(row.settings[key] or "" for key in summary.varying),
                str(row.n_runs),
                str(row.n_failed),
                *(_mean_std(row.mean[m], row.std[m]) for m in metrics),
            ]
            for row in summary.rows
        ],
    )
    lines += [
        "",
        "## Run-level differences vs baseline",
        "",
        "Arm minus baseline per replicate (same seed/fold) that finished in both; 95% Student t "
        f"interval of the mean difference, shown only from {MIN_REPLICATES} pairs on.",
    ]
    for (arm, baseline), group in itertools.groupby(
        summary.comparisons, key=lambda c: (c.arm, c.baseline)
    ):
        lines += ["", f"### {arm} vs {baseline}", ""]
        lines += _table(
            ["metric", "pairs", "mean diff", "95% CI", "per replicate", "verdict"],
            [
                [
                    metrics[c.metric],
                    str(c.n_pairs),
                    _number(c.mean_diff, "+.3f", "n/a"),
                    "n/a" if c.ci is None else f"[{c.ci[0]:+.3f}, {c.ci[1]:+.3f}]",
                    ", ".join(f"{d:+.3f}" for d in c.diffs) or "n/a",
                    c.verdict,
                ]
                for c in group
            ],
        )
    if summary.unmatched:
        arms = ", ".join(f"`{arm}`" for arm in summary.unmatched)
        lines += ["", f"No matching baseline arm for: {arms}."]
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


def _patient_lines(summary: Summary) -> list[str]:
    wanted = " ".join(f"`{key}={value}`" for key, value in summary.baseline.items())
    if not summary.baseline_arms:
        return [f"No baseline arm: no arm has {wanted}; pick one with `--baseline`."]
    lines = [
        f"Baseline: {wanted}. Each arm is compared with the baseline arm that shares its other "
        "swept settings, on the patients both scored in the same seed: arm minus baseline, the "
        "mean over seeds; the 95% CI from the same bootstrap resamples of patients scoring both "
        "arms; DeLong's paired test where all seeds scored the same patients (their scores "
        "averaged per patient).",
        "",
    ]
    rows = []
    for comparison in summary.patient_comparisons:
        if comparison.result is None:
            rows.append([comparison.arm, comparison.baseline, "n/a", "0", "n/a", "n/a", "n/a"])
            rows[-1].append("no shared test patients (no test_patients.csv)")
            continue
        for metric, estimate, p in comparison.result.by_metric():
            rows.append(
                [
                    comparison.arm,
                    comparison.baseline,
                    PATIENT_NAMES[metric],
                    str(estimate.n_patients),
                    _number(estimate.value, "+.3f"),
                    f"[{estimate.ci[0]:+.3f}, {estimate.ci[1]:+.3f}]",
                    _number(p, ".3g", "n/a"),
                    verdict(estimate.ci),
                ]
            )
    if not rows:
        return [*lines, "Only baseline arms ran: nothing to compare."]
    header = ["arm", "baseline", "metric", "patients", "difference", "95% CI", "DeLong p"]
    return lines + _table([*header, "verdict"], rows)


def _plot(summary: Summary, metrics: dict[str, str]) -> None:
    """Left: each arm's pooled patient AUROC with its 95% CI; right: run-level means ± std."""
    shown = [m for m in metrics if any(row.mean[m] is not None for row in summary.rows)]
    figure, (left, right) = plt.subplots(
        1,
        2,
        figsize=(max(9.0, 4.0 + 0.4 * len(shown) * len(summary.rows)), 4.5),
        gridspec_kw={"width_ratios": [1, 2]},
    )
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
    right.set_xticks(positions, [metrics[m] for m in shown], rotation=30)
    right.set_ylim(bottom=0)
    right.set(ylabel="mean ± std over jobs", title=f"Run level, sweep {summary.root.name}")
    right.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    figure.savefig(summary.plot_path, dpi=120)
    plt.close(figure)
