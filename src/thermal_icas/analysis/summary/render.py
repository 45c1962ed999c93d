"""The pages of a sweep summary: summary.md (also what the script prints) and summary.html (the
same, with the plot), written from one list of blocks; `files` writes the data files."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

from thermal_icas.analysis.page import (
    Block,
    Bullets,
    Figure,
    Heading,
    Table,
    html,
    markdown,
)
from thermal_icas.analysis.summary.collect import REPLICATE_KEYS
from thermal_icas.analysis.summary.files import (
    PAIRED_HEADER,
    arm_header,
    arm_rows,
    comparison_rows,
    number,
    plot,
    settings_of,
    write_csv,
)
from thermal_icas.analysis.summary.statistics import (
    METRICS,
    MIN_REPLICATES,
    exploratory_verdict,
    primary_verdict,
)
from thermal_icas.core import run_files
from thermal_icas.core.evaluation.compare import PRIMARY_METRIC, Estimate
from thermal_icas.core.evaluation.metrics import METRICS as REGISTRY
from thermal_icas.core.run_files import TEST_PATIENTS

if TYPE_CHECKING:
    from thermal_icas.analysis.summary import Summary

PATIENT_NAMES = {name: f"patient {REGISTRY[name].label}" for name in ("auroc", "balanced_acc")}
NO_SHARED_PATIENTS = f"no shared test patients (no {TEST_PATIENTS})"


def write_reports(summary: Summary) -> None:
    write_csv(summary.csv_path, arm_header(summary), arm_rows(summary))
    comparisons = summary.csv_path.parent / run_files.SUMMARY_COMPARISONS
    write_csv(comparisons, PAIRED_HEADER, comparison_rows(summary))
    plot(summary)
    blocks = _document(summary)
    summary.markdown_path.write_text(markdown(blocks))
    page = html(f"Sweep summary: {summary.root.name}", blocks)
    summary.html_path.write_text(page, encoding="utf-8")


def _interval(estimate: Estimate, spec: str = ".3f") -> str:
    low, high = estimate.ci
    return f"{estimate.value:{spec}} [{number(low, spec, 'n/a')}, {number(high, spec, 'n/a')}]"


def _signed_ci(ci: tuple[float, float]) -> str:
    return f"[{ci[0]:+.3f}, {ci[1]:+.3f}]"


def _pairs(settings: Mapping[str, str]) -> str:
    return " ".join(f"`{key}={value}`" for key, value in settings.items())


def _document(summary: Summary) -> list[Block]:
    """Title and settings, the plot (on the page only), then the sections."""
    return [
        Heading(1, f"Sweep summary: {summary.root.name}"),
        _header(summary),
        Figure(summary.plot_path, "Left: pooled patient AUROC per arm, 95% CI; right: run level."),
        *_drop_blocks(summary),
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


def _drop_blocks(summary: Summary) -> list[Block]:
    """With `--view`, what the page shows, and each arm's drop from its own test."""
    if not summary.view:
        return []
    text = (
        f"**Scores from `{summary.view}/`**: each job's test patients as the second camera of "
        "eval.shift_dir shows them, every val choice of the job kept. Below: each arm's patient "
        "AUROC on its own test (the training camera) minus on these, the same patients and "
        "seeds, a percentile interval from the paired patient bootstrap."
    )
    rows = [
        [arm, str(drop.n_patients), str(drop.n_replicates), number(drop.value, "+.3f"), *cells]
        for arm, drop in (summary.drops or {}).items()
        for cells in [(_signed_ci(drop.ci), number(drop.p, ".3g", "n/a"))]
    ]
    header = ["arm", "patients", "replicates", "AUROC drop", "CI", "p"]
    return [Heading(2, "Drop from the training camera"), text, Table(header, rows)]


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
        "patient-level metric (balanced accuracy at each job's val-chosen threshold). "
        f"95% BCa intervals from {summary.n_bootstrap} bootstrap resamples of patients, drawn "
        "within each class once per resample and shared by every seed that scored them: "
        "seeds that score the same patients do not add patients. `patients` counts distinct "
        "patients; an AUROC of exactly 1 gets a one-sided interval.",
    ]
    rows: list[list[str]] = []
    for row in summary.rows:
        if row.patient is not None:
            auroc, balanced = row.patient["auroc"], row.patient["balanced_acc"]
            per_seed = ", ".join(f"{v:.3f}" for v in auroc.per_replicate)
            counts = [str(auroc.n_replicates), str(auroc.n_patients)]
            cells = [_interval(auroc), per_seed, _interval(balanced), row.sharing]
            rows.append([row.arm, *counts, *cells])
    header = ["arm", "replicates", "patients", "patient AUROC [95% CI]", "per seed"]
    blocks.append(Table([*header, PATIENT_NAMES["balanced_acc"], "replicates share"], rows))
    if any(row.patient is None for row in summary.rows):
        blocks.append(f"Arms without {TEST_PATIENTS} in any finished job are left out here.")
    return blocks


def _paired_patient_blocks(summary: Summary) -> list[Block]:
    wanted = _pairs(summary.baseline)
    if not summary.baseline_arms:
        return [f"No baseline arm: no arm has {wanted}; pick one with `--baseline`."]
    family = sum(c.result is not None for c in summary.patient_comparisons)
    joint = (
        f"The AUROC intervals are simultaneous: each at level 1 - 0.05/{family} (Bonferroni), "
        "so all hold together with 95% confidence."
        if summary.simultaneous
        else "The AUROC intervals are 95% each, not simultaneous (`--simultaneous` for that)."
    )
    text = (
        f"Baseline: {wanted}. Each arm is compared with the baseline arm that shares its other "
        "swept settings, on the patients both scored in the same seed: arm minus baseline, the "
        "mean over seeds; a percentile interval and its p-value from the same bootstrap "
        "resamples of patients scoring both arms and every seed. **Primary metric: patient "
        f"AUROC.** Its family is the {family} comparison(s) below; their p-values are "
        f"Holm-adjusted and the verdict reads the adjusted one. {joint} Balanced accuracy is "
        "exploratory "
        "(unadjusted). DeLong's p, where all seeds scored the same patients, tests the same "
        "quantity: the mean over seeds of the per-seed AUROC difference."
    )
    rows: list[list[str]] = []
    for comparison in summary.patient_comparisons:
        names = [comparison.arm, comparison.baseline]
        if comparison.result is None:
            rows.append([*names, "n/a", "0", "0", "n/a", "n/a", "n/a", "n/a", "n/a"])
            rows[-1].append(f"n/a: {NO_SHARED_PATIENTS}")
            continue
        for metric, estimate, delong_p in comparison.result.by_metric():
            ci = comparison.shown_ci(metric, estimate)
            counts = [str(estimate.n_patients), str(estimate.n_replicates)]
            what = [*names, PATIENT_NAMES[metric], *counts]
            numbers = [number(estimate.value, "+.3f"), _signed_ci(ci), number(estimate.p, ".3g")]
            if metric == PRIMARY_METRIC:
                holm_p = number(comparison.adjusted_p, ".3g", "n/a")
                verdict = primary_verdict(estimate, ci, comparison.adjusted_p, family)
            else:
                holm_p, verdict = "exploratory", exploratory_verdict(estimate.ci, "n/a")
            p_values = [holm_p, number(delong_p, ".3g", "n/a")]
            rows.append([*what, *numbers, *p_values, verdict])
    if not rows:
        return [text, "Only baseline arms ran: nothing to compare."]
    header = ["arm", "baseline", "metric", "patients", "replicates", "difference", "CI", "p"]
    sharing = [f"`{c.arm}`: {c.result.sharing}" for c in summary.patient_comparisons if c.result]
    blocks: list[Block] = [text, Table([*header, "Holm p", "DeLong p", "verdict"], rows)]
    return [*blocks, Bullets(sharing)] if sharing else blocks


def _arm_run_blocks(summary: Summary) -> list[Block]:
    text = (
        "Mean ± sample std (ddof=1) over finished jobs, one value per job (a fold's AUROC comes "
        "from its few test patients); std is n/a with fewer than 2."
    )
    header = ["arm", *summary.varying, "n_runs", "n_failed", *METRICS.values()]
    rows = [
        [row.arm, *settings_of(summary, row), str(row.n_runs), str(row.n_failed)]
        + [_mean_std(row.mean[m], row.std[m]) for m in METRICS]
        for row in summary.rows
    ]
    return [text, Table(header, rows)]


def _mean_std(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "n/a"
    return f"{mean:.3f} ± {number(std, '.3f', 'n/a')}"


def _paired_run_blocks(summary: Summary) -> list[Block]:
    blocks: list[Block] = [
        "Exploratory. Arm minus baseline per replicate (same seed/fold) that finished in both; "
        "95% interval of the mean difference by Nadeau and Bengio's corrected resampled t "
        "(folds and random splits share most of their training patients, so they are not "
        "independent: the variance is scaled by 1/J + n_test/n_train, from each job's "
        f"splits.csv), shown only from {MIN_REPLICATES} pairs on. The patient-level "
        "comparison above is the test.",
    ]
    header = ["metric", "pairs", "mean diff", "95% CI", "per replicate", "verdict"]
    for (arm, baseline), group in itertools.groupby(
        summary.comparisons, key=lambda c: (c.arm, c.baseline)
    ):
        rows = [
            [
                METRICS[c.metric],
                str(c.n_pairs),
                number(c.mean_diff, "+.3f", "n/a"),
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
