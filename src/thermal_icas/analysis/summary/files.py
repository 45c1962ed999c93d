"""The data files of a sweep summary: summary.csv (one row per arm), comparisons.csv (one row
per paired comparison and metric) and summary.png (the arms' AUROCs at a glance)."""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from thermal_icas.analysis.summary.statistics import METRICS, ArmRow
from thermal_icas.core.evaluation.compare import PAIRED_METRICS, PRIMARY_METRIC

if TYPE_CHECKING:
    from thermal_icas.analysis.summary import Summary

PAIRED_HEADER = (
    "arm",
    "baseline",
    "metric",
    "n_patients",
    "n_replicates",
    "difference",
    "ci_low",
    "ci_high",
    "p",
    "p_holm",
    "p_delong",
)


def number(value: float | None, spec: str, missing: str = "") -> str:
    return missing if value is None or not math.isfinite(value) else format(value, spec)


def settings_of(summary: Summary, row: ArmRow) -> list[str]:
    """The row's value of each varying override, blank where its jobs did not set it."""
    return [row.settings[key] or "" for key in summary.varying]


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def arm_header(summary: Summary) -> list[str]:
    pooled = [f"patient/{m}_{s}" for m in PAIRED_METRICS for s in ("pooled", "ci_low", "ci_high")]
    stats = [f"{metric}_{stat}" for metric in METRICS for stat in ("mean", "std")]
    counts = ["n_runs", "n_failed", "n_patients", "n_replicates"]
    return ["arm", *summary.varying, *counts, *pooled, *stats]


def arm_rows(summary: Summary) -> Iterator[list[object]]:
    for row in summary.rows:
        patient = row.patient or {}
        pooled: list[str] = [
            number(v, ".6g")
            for m in PAIRED_METRICS
            for v in ((patient[m].value, *patient[m].ci) if m in patient else (None, None, None))
        ]
        stats = [number(v, ".6g") for m in METRICS for v in (row.mean[m], row.std[m])]
        auroc = patient.get("auroc")
        distinct = [auroc.n_patients, auroc.n_replicates] if auroc else ["", ""]
        counts = [row.n_runs, row.n_failed, *distinct]
        yield [row.arm, *settings_of(summary, row), *counts, *pooled, *stats]


def comparison_rows(summary: Summary) -> Iterator[list[object]]:
    for comparison in summary.patient_comparisons:
        if comparison.result is None:
            continue
        for metric, estimate, delong_p in comparison.result.by_metric():
            ci = comparison.shown_ci(metric, estimate)
            numbers = [number(v, ".6g") for v in (estimate.value, *ci, estimate.p)]
            holm_p = comparison.adjusted_p if metric == PRIMARY_METRIC else None
            names = [comparison.arm, comparison.baseline, f"patient/{metric}"]
            counts = [estimate.n_patients, estimate.n_replicates]
            yield [*names, *counts, *numbers, number(holm_p, ".4g"), number(delong_p, ".4g")]


def plot(summary: Summary) -> None:
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
