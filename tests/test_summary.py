"""Sweep summary: arms, replicate statistics, paired comparisons and the CLI, on fake multiruns."""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.metrics import roc_auc_score

from tests.pages import Page
from thermal_icas.analysis.summary import (
    METRICS,
    NO_PAIRS,
    Comparison,
    Summary,
    parse_baseline,
    summarize_multirun,
)
from thermal_icas.analysis.summary.statistics import (
    NO_SPLITS,
    TOO_FEW_PAIRS,
    exploratory_verdict,
    primary_verdict,
)
from thermal_icas.core.evaluation.bootstrap import holm
from thermal_icas.core.evaluation.compare import Estimate
from thermal_icas.core.evaluation.patients import Scores, write_patients

INCLUDES_ZERO = "exploratory, unadjusted: CI includes 0"
EXCLUDES_ZERO = "exploratory, unadjusted: CI excludes 0"

ROOT = Path(__file__).resolve().parents[1]
BASE_SEEDS = {1: 0.55, 2: 0.65, 3: 0.75, 4: 0.85, 5: 0.95}


def make_job(
    root: Path,
    name: str,
    overrides: Sequence[str],
    metrics: dict[str, float] | None = None,
    error: str | None = None,
    splits: dict[str, int] | None = None,
) -> Path:
    """A job folder; a finished one has a splits.csv of `splits` patients per split (default
    70 train, 15 val, 15 test)."""
    job = root / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(list(overrides)))
    if metrics is not None:
        (job / "metrics.json").write_text(json.dumps(metrics))
        sizes = splits if splits is not None else {"train": 70, "val": 15, "test": 15}
        with (job / "splits.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "patient", "label", "split"])
            for split, count in sizes.items():
                for index in range(count):
                    for image in range(2):
                        writer.writerow(
                            [f"{split}{index}_{image}.png", f"{split}{index}", "a", split]
                        )
    if error is not None:
        (job / "error.txt").write_text(error)
    return job


def all_metrics(value: float) -> dict[str, float]:
    return dict.fromkeys(METRICS, value)


def comparison(summary: Summary, arm: str, metric: str = "test/auroc") -> Comparison:
    (found,) = [c for c in summary.comparisons if c.arm == arm and c.metric == metric]
    return found


def md_section(markdown: str, title: str) -> str:
    """Text under a heading, up to the next heading of any level."""
    start = markdown.index(title + "\n")
    following = re.search(r"\n#+ ", markdown[start + len(title) :])
    return markdown[start : start + len(title) + following.start()] if following else markdown


def test_two_arms_counts_means_and_failed_run(tmp_path: Path) -> None:
    common = ["experiment=ablation", "attention=off"]
    auroc = {("none", 1): 0.70, ("none", 2): 0.80, ("ellipse", 1): 0.90, ("ellipse", 2): 0.70}
    for index, ((mask, seed), value) in enumerate(auroc.items()):
        metrics = {"test/auroc": value, "test/f1": value / 2, "test/sensitivity": 0.5}
        make_job(tmp_path, str(index), [f"mask={mask}", f"seed={seed}", *common], metrics)
    make_job(
        tmp_path,
        "4",
        ["mask=ellipse", "seed=3", *common],
        error="CUDA out of memory\nTraceback (most recent call last): ...",
    )

    summary = summarize_multirun(tmp_path)

    assert summary.varying == ["mask"]
    assert summary.common == {"attention": "off", "experiment": "ablation"}
    assert [row.arm for row in summary.rows] == ["mask=none", "mask=ellipse"]
    none, ellipse = summary.rows
    assert (none.n_runs, none.n_failed) == (2, 0)
    assert (ellipse.n_runs, ellipse.n_failed) == (2, 1)
    assert none.mean["test/auroc"] == pytest.approx(0.75)
    assert none.std["test/auroc"] == pytest.approx(math.sqrt(0.005))
    assert ellipse.mean["test/f1"] == pytest.approx(0.40)
    assert ellipse.std["test/f1"] == pytest.approx(math.sqrt(0.005))
    assert ellipse.std["test/sensitivity"] == pytest.approx(0.0)
    assert none.mean["test/attention/in_face"] is None
    assert none.std["test/attention/in_face"] is None

    (failed,) = summary.failed
    assert (failed.job, failed.arm, failed.replicate) == ("4", "mask=ellipse", "seed=3")
    assert failed.reason == "CUDA out of memory"

    markdown = summary.markdown_path.read_text()
    assert "Common overrides: `attention=off` `experiment=ablation`" in markdown
    arms = md_section(markdown, "## Arms: run level")
    assert "| mask=none | none | 2 | 0 | 0.750 ± 0.071 |" in arms
    assert "| mask=ellipse | ellipse | 2 | 1 | 0.800 ± 0.141 |" in arms
    assert arms.rstrip().endswith("n/a |")
    assert "| 4 | mask=ellipse | seed=3 | CUDA out of memory |" in md_section(
        markdown, "## Failed runs"
    )

    with summary.csv_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["arm"], r["mask"], r["n_runs"], r["n_failed"]) for r in rows] == [
        ("mask=none", "none", "2", "0"),
        ("mask=ellipse", "ellipse", "2", "1"),
    ]
    assert float(rows[1]["test/auroc_mean"]) == pytest.approx(0.8)
    assert rows[0]["test/attention/in_face_mean"] == ""
    assert summary.plot_path.read_bytes().startswith(b"\x89PNG")


def test_paired_comparison_sign_and_verdict(tmp_path: Path) -> None:
    offsets = {
        "ellipse": dict.fromkeys(BASE_SEEDS, 0.10),
        "rectangle": {1: 0.08, 2: -0.07, 3: 0.05, 4: -0.09, 5: 0.04},
        "adaptive": dict.fromkeys(BASE_SEEDS, -0.05),
    }
    index = 0
    for seed, value in BASE_SEEDS.items():
        make_job(
            tmp_path, str(index), ["mask=none", "attention=off", f"seed={seed}"], all_metrics(value)
        )
        index += 1
    for mask, by_seed in offsets.items():
        # Seeds in reverse order: pairing must follow the seed, not the job number.
        for seed in sorted(by_seed, reverse=True):
            overrides = [f"mask={mask}", "attention=off", f"seed={seed}"]
            if mask == "ellipse" and seed == 5:
                make_job(tmp_path, str(index), overrides)
            else:
                make_job(
                    tmp_path, str(index), overrides, all_metrics(BASE_SEEDS[seed] + by_seed[seed])
                )
            index += 1

    summary = summarize_multirun(tmp_path, n_bootstrap=2000)

    assert summary.baseline_arms == ["mask=none"]
    better = comparison(summary, "mask=ellipse")
    assert better.baseline == "mask=none"
    assert better.n_pairs == 4
    assert better.mean_diff == pytest.approx(0.10)
    # four same-signed differences are no interval: they are shown, not summarised
    assert better.ci is None
    assert better.diffs == pytest.approx((0.10,) * 4)
    assert better.verdict == TOO_FEW_PAIRS
    noisy = comparison(summary, "mask=rectangle")
    assert noisy.n_pairs == 5
    assert noisy.mean_diff == pytest.approx(0.002)
    assert noisy.ci is not None
    assert noisy.ci[0] < 0 < noisy.ci[1]
    assert noisy.verdict == INCLUDES_ZERO
    worse = comparison(summary, "mask=adaptive")
    assert worse.mean_diff == pytest.approx(-0.05)
    assert worse.ci is not None
    assert worse.ci[1] < 0
    assert worse.verdict == EXCLUDES_ZERO
    assert not any(c.arm == "mask=none" for c in summary.comparisons)

    failed = summary.failed[0]
    assert failed.reason == "no metrics.json and no error.txt"
    markdown = summary.markdown_path.read_text()
    better_md = md_section(markdown, "### mask=ellipse vs mask=none")
    row = "| AUROC | 4 | +0.100 | n/a | +0.100, +0.100, +0.100, +0.100 | n/a: fewer than 5"
    assert row in better_md
    noisy_md = md_section(markdown, "### mask=rectangle vs mask=none")
    assert "| AUROC | 5 | +0.002 |" in noisy_md
    assert INCLUDES_ZERO in noisy_md
    assert "| AUROC | 5 | -0.050 |" in md_section(markdown, "### mask=adaptive vs mask=none")
    assert "corrected resampled t" in markdown


def test_run_level_interval_is_the_nadeau_bengio_corrected_t(tmp_path: Path) -> None:
    diffs = {1: 0.08, 2: 0.02, 3: 0.05, 4: 0.09, 5: 0.03}
    for seed, value in BASE_SEEDS.items():
        make_job(tmp_path, f"b{seed}", ["mask=none", f"seed={seed}"], all_metrics(value))
        arm = all_metrics(value + diffs[seed])
        make_job(tmp_path, f"a{seed}", ["mask=ellipse", f"seed={seed}"], arm)
    found = comparison(
        summarize_multirun(tmp_path, baseline="mask=none", n_bootstrap=100), "mask=ellipse"
    )
    values = np.array(list(diffs.values()))
    # the naive t interval of these five would exclude 0; with 15 test and 70 training patients
    # per split, the variance of the mean grows from var / 5 to var * (1 / 5 + 15 / 70)
    half = 2.7764451 * values.std(ddof=1) * math.sqrt(1 / 5 + 15 / 70)
    assert found.ci == pytest.approx((values.mean() - half, values.mean() + half))
    naive_low = values.mean() - 2.7764451 * values.std(ddof=1) / math.sqrt(5)
    assert naive_low > 0 and found.verdict == INCLUDES_ZERO

    without = tmp_path / "no_splits"
    for seed, value in BASE_SEEDS.items():
        make_job(without, f"b{seed}", ["mask=none", f"seed={seed}"], all_metrics(value), splits={})
        arm = all_metrics(value + diffs[seed])
        make_job(without, f"a{seed}", ["mask=ellipse", f"seed={seed}"], arm, splits={})
    found = comparison(
        summarize_multirun(without, baseline="mask=none", n_bootstrap=100), "mask=ellipse"
    )
    assert found.ci is None and found.verdict == NO_SPLITS


def test_common_overrides_nested_jobs_and_single_arm(tmp_path: Path) -> None:
    shared = ["experiment=ablation", "mask=none"]
    make_job(tmp_path / "sweep_a", "0", [*shared, "seed=1", "data.fold=0"], all_metrics(0.6))
    make_job(tmp_path / "sweep_a", "1", [*shared, "seed=2", "data.fold=1"], all_metrics(0.8))
    make_job(tmp_path / "sweep_b", "0", [*shared, "seed=3", "+data.split_seed=7"])

    summary = summarize_multirun(tmp_path)

    assert summary.varying == []
    assert summary.common == {"experiment": "ablation", "mask": "none"}
    (row,) = summary.rows
    assert (row.arm, row.n_runs, row.n_failed) == ("all", 2, 1)
    assert row.mean["test/auroc"] == pytest.approx(0.7)
    assert summary.failed[0].job == "sweep_b/0"
    assert summary.failed[0].replicate == "seed=3 data.split_seed=7"
    markdown = summary.markdown_path.read_text()
    assert "Common overrides: `experiment=ablation` `mask=none`" in markdown
    assert "| all | 2 | 1 | 0.700 ± 0.141 |" in markdown
    # attention is not in any job's overrides, so the default baseline cannot be confirmed.
    assert "No baseline arm: no arm has `mask=none` `attention=off`" in markdown
    assert summary.comparisons == []


def test_baseline_shares_the_other_swept_keys(tmp_path: Path) -> None:
    base = {("none", "off"): 0.50, ("none", "on"): 0.70, ("ellipse", "off"): 0.60}
    base[("ellipse", "on")] = 0.65
    replicates = [("1", "0"), ("1", "1"), ("2", "0")]
    index = 0
    for (mask, asymmetry), value in base.items():
        for step, (seed, fold) in enumerate(replicates):
            overrides = [
                f"mask={mask}",
                "attention=off",
                f"asymmetry={asymmetry}",
                f"seed={seed}",
                f"data.fold={fold}",
            ]
            make_job(tmp_path, str(index), overrides, all_metrics(value + 0.1 * step))
            index += 1

    summary = summarize_multirun(tmp_path, n_bootstrap=500)

    assert summary.varying == ["asymmetry", "mask"]
    assert sorted(summary.baseline_arms) == ["asymmetry=off mask=none", "asymmetry=on mask=none"]
    on = comparison(summary, "asymmetry=on mask=ellipse")
    assert on.baseline == "asymmetry=on mask=none"
    assert on.n_pairs == 3
    assert on.mean_diff == pytest.approx(-0.05)
    off = comparison(summary, "asymmetry=off mask=ellipse")
    assert off.baseline == "asymmetry=off mask=none"
    assert off.mean_diff == pytest.approx(0.10)
    assert {c.arm for c in summary.comparisons} == {
        "asymmetry=on mask=ellipse",
        "asymmetry=off mask=ellipse",
    }
    markdown = summary.markdown_path.read_text()
    assert "### asymmetry=on mask=ellipse vs asymmetry=on mask=none" in markdown

    # Naming asymmetry in the baseline makes asymmetry=off the baseline for every arm.
    pinned = summarize_multirun(tmp_path, baseline="mask=none asymmetry=off", n_bootstrap=500)
    assert pinned.baseline_arms == ["asymmetry=off mask=none"]
    assert comparison(pinned, "asymmetry=on mask=ellipse").mean_diff == pytest.approx(0.15)
    assert comparison(pinned, "asymmetry=on mask=none").mean_diff == pytest.approx(0.20)


def test_missing_baseline_partner_and_too_few_pairs(tmp_path: Path) -> None:
    make_job(tmp_path, "0", ["mask=none", "asymmetry=off", "seed=1"], all_metrics(0.5))
    make_job(tmp_path, "1", ["mask=none", "asymmetry=off", "seed=2"], all_metrics(0.6))
    make_job(tmp_path, "2", ["mask=ellipse", "asymmetry=off", "seed=1"], {"test/auroc": 0.9})
    make_job(tmp_path, "3", ["mask=ellipse", "asymmetry=on", "seed=1"], all_metrics(0.9))

    summary = summarize_multirun(tmp_path, baseline="mask=none")

    single = comparison(summary, "asymmetry=off mask=ellipse")
    assert (single.n_pairs, single.ci, single.verdict) == (1, None, TOO_FEW_PAIRS)
    assert single.mean_diff == pytest.approx(0.4)
    missing = comparison(summary, "asymmetry=off mask=ellipse", "test/f1")
    assert (missing.n_pairs, missing.verdict) == (0, NO_PAIRS)
    assert summary.unmatched == ["asymmetry=on mask=ellipse"]
    markdown = summary.markdown_path.read_text()
    section = md_section(markdown, "### asymmetry=off mask=ellipse vs asymmetry=off mask=none")
    assert "| AUROC | 1 | +0.400 | n/a | +0.400 | n/a: fewer than 5 replicates" in section
    assert f"| F1 | 0 | n/a | n/a | n/a | {NO_PAIRS} |" in section
    assert "No matching baseline arm for: `asymmetry=on mask=ellipse`." in markdown
    assert "| asymmetry=off mask=ellipse | off | ellipse | 1 | 0 | 0.900 ± n/a | n/a |" in markdown


def test_same_replicate_twice_in_an_arm_is_an_error(tmp_path: Path) -> None:
    make_job(tmp_path, "0", ["mask=none", "seed=1"], all_metrics(0.5))
    make_job(tmp_path, "1", ["mask=none", "seed=1"], all_metrics(0.6))
    make_job(tmp_path, "2", ["mask=ellipse", "seed=1"], all_metrics(0.6))
    with pytest.raises(ValueError, match="same replicate of arm 'mask=none'"):
        summarize_multirun(tmp_path)


@pytest.mark.parametrize("text", ["", "mask", "mask=none,attention"])
def test_bad_baseline_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="key=value"):
        parse_baseline(text)


def test_baseline_accepts_commas_and_spaces() -> None:
    expected = {"mask": "none", "attention": "off"}
    assert parse_baseline("mask=none,attention=off") == expected
    assert parse_baseline(" mask=none attention=off ") == expected


def test_no_jobs_names_the_folder(tmp_path: Path) -> None:
    (tmp_path / "0").mkdir()
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path))):
        summarize_multirun(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing"):
        summarize_multirun(tmp_path / "missing")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "thermal_icas.cli", "summarize", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_writes_files_and_prints_markdown(tmp_path: Path) -> None:
    for index, (seed, value) in enumerate(BASE_SEEDS.items()):
        make_job(tmp_path, f"{2 * index}", ["mask=none", f"seed={seed}"], all_metrics(value))
        make_job(
            tmp_path, f"{2 * index + 1}", ["mask=ellipse", f"seed={seed}"], all_metrics(value + 0.1)
        )

    result = run_cli(str(tmp_path), "--baseline", "mask=none", "--bootstrap", "200")

    assert result.returncode == 0, result.stderr
    assert result.stdout == (tmp_path / "summary.md").read_text()
    assert result.stdout.startswith(f"# Sweep summary: {tmp_path.name}")
    assert "200 bootstrap resamples of patients" in result.stdout
    assert "### mask=ellipse vs mask=none" in result.stdout
    assert (tmp_path / "summary.csv").is_file()
    assert (tmp_path / "summary.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "summary.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.slow
@pytest.mark.parametrize("sub", ["empty", "absent"])
def test_cli_fails_on_a_folder_without_jobs(tmp_path: Path, sub: str) -> None:
    folder = tmp_path / sub
    if sub == "empty":
        folder.mkdir()
    result = run_cli(str(folder))
    assert result.returncode != 0
    assert result.stderr.startswith("error: ")
    assert str(folder) in result.stderr
    assert not (folder / "summary.md").exists()


PATIENTS = np.array([f"P{i:03d}" for i in range(90)])
LABELS = (np.arange(90) % 3 == 0).astype(int)


def make_cv_jobs(
    root: Path,
    arm: str,
    scores: np.ndarray,
    folds: int = 5,
    seed: int | None = None,
    threads: int = 1,
) -> None:
    """One job per fold of `arm` (a mask value), each with its test patients' scores."""
    for fold in range(folds):
        keep = np.arange(len(PATIENTS)) % folds == fold
        overrides = [f"mask={arm}", "attention=off", f"data.fold={fold}"]
        if seed is not None:
            overrides.append(f"seed={seed}")
        job = make_job(
            root,
            f"{arm}_{seed}_{fold}",
            overrides,
            {"test/auroc": 0.7, "run/threads": float(threads)},
        )
        patients = Scores(PATIENTS[keep], LABELS[keep], scores[keep], np.full(keep.sum(), 2))
        write_patients(job / "test_patients.csv", patients, 0.5, ("non_icas", "icas"))


def test_pooled_cv_scores_every_patient_once_and_pairs_arms_by_patient(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(size=90)
    weak = 1 / (1 + np.exp(-(0.8 * LABELS + noise)))
    strong = 1 / (1 + np.exp(-(2.5 * LABELS + noise)))
    make_cv_jobs(tmp_path, "none", weak)
    make_cv_jobs(tmp_path, "content_based", strong)

    summary = summarize_multirun(tmp_path, baseline="mask=none", n_bootstrap=2000)

    rows = {row.arm: row for row in summary.rows}
    for row, scores in ((rows["mask=none"], weak), (rows["mask=content_based"], strong)):
        assert row.patient is not None
        pooled = row.patient["auroc"]
        assert pooled.n_patients == 90, "the five folds pool into every patient once"
        assert pooled.value == pytest.approx(roc_auc_score(LABELS, scores))
        assert pooled.ci[0] < pooled.value < pooled.ci[1]
    (paired,) = summary.patient_comparisons
    assert paired.result is not None
    difference = paired.result.estimates["auroc"]
    expected = roc_auc_score(LABELS, strong) - roc_auc_score(LABELS, weak)
    assert difference.value == pytest.approx(expected)
    assert difference.ci[0] > 0, "a large gain on 90 paired patients excludes 0"
    assert paired.result.delong_p is not None and paired.result.delong_p < 0.05
    markdown = summary.markdown_path.read_text()
    assert "| mask=content_based | mask=none | patient AUROC | 90 |" in markdown
    with (tmp_path / "comparisons.csv").open() as handle:
        rows_csv = list(csv.DictReader(handle))
    assert {row["metric"] for row in rows_csv} == {"patient/auroc", "patient/balanced_acc"}
    assert "Torch threads per job: 1" in markdown and "Warning" not in markdown


def test_an_arm_compared_with_itself_differs_by_exactly_zero(tmp_path: Path) -> None:
    scores = np.random.default_rng(1).random(90)
    make_cv_jobs(tmp_path, "none", scores)
    make_cv_jobs(tmp_path, "ellipse", scores)

    summary = summarize_multirun(tmp_path, baseline="mask=none", n_bootstrap=500)

    (paired,) = summary.patient_comparisons
    assert paired.result is not None
    for estimate in paired.result.estimates.values():
        assert estimate.value == 0.0
        assert estimate.ci == (0.0, 0.0)
    assert paired.result.delong_p == 1.0


def test_seeds_are_replicates_whose_bootstrap_is_stratified_and_seeded(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    per_seed = {}
    for seed in (1, 2):
        base = rng.random(90)
        per_seed[seed] = roc_auc_score(LABELS, base)
        make_cv_jobs(tmp_path, "none", base, seed=seed)
        make_cv_jobs(tmp_path, "ellipse", np.clip(base + 0.3 * LABELS, 0, 1), seed=seed)

    first = summarize_multirun(tmp_path, baseline="mask=none", n_bootstrap=500, seed=3)
    again = summarize_multirun(tmp_path, baseline="mask=none", n_bootstrap=500, seed=3)
    other = summarize_multirun(tmp_path, baseline="mask=none", n_bootstrap=500, seed=4)

    row = next(row for row in first.rows if row.arm == "mask=none")
    assert row.repeats == ("seed=1", "seed=2")
    assert row.patient is not None
    assert row.patient["auroc"].per_replicate == pytest.approx(tuple(per_seed.values()))
    assert row.patient["auroc"].value == pytest.approx(np.mean(list(per_seed.values())))

    def interval(summary: Summary) -> tuple[float, float]:
        result = summary.patient_comparisons[0].result
        assert result is not None
        return result.estimates["auroc"].ci

    assert interval(first) == interval(again)
    assert interval(first) != interval(other)


def test_a_patient_in_two_folds_of_one_seed_is_an_error(tmp_path: Path) -> None:
    make_cv_jobs(tmp_path, "none", np.linspace(0, 1, 90))
    leaked = make_job(tmp_path, "extra", ["mask=none", "attention=off", "data.fold=9"], {})
    patients = Scores(PATIENTS[:2], LABELS[:2], np.array([0.2, 0.4]), np.ones(2, dtype=int))
    write_patients(leaked / "test_patients.csv", patients, 0.5, ("non_icas", "icas"))
    with pytest.raises(ValueError, match=r"P000.*two jobs"):
        summarize_multirun(tmp_path, baseline="mask=none", n_bootstrap=100)


def test_jobs_with_different_thread_counts_are_flagged(tmp_path: Path) -> None:
    make_cv_jobs(tmp_path, "none", np.linspace(0, 1, 90), threads=1)
    make_cv_jobs(tmp_path, "ellipse", np.linspace(0, 1, 90), threads=2)
    summary = summarize_multirun(tmp_path, baseline="mask=none", n_bootstrap=100)
    assert summary.threads == [1, 2]
    assert "different thread counts" in summary.markdown_path.read_text()


def markdown_rows(section: str) -> list[list[str]]:
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ]


def test_summary_page_is_the_markdown_with_the_plot_embedded(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).normal(size=90)
    weak = 1 / (1 + np.exp(-(0.8 * LABELS + noise)))
    make_cv_jobs(tmp_path, "none", weak)
    make_cv_jobs(tmp_path, "ellipse", weak)
    make_cv_jobs(tmp_path, "content_based", 1 / (1 + np.exp(-(2.5 * LABELS + noise))))
    trick = "<img src=x onerror=alert(1)>"
    make_job(tmp_path, "failed", ["mask=none", "attention=off", "data.fold=9"], error=trick)

    summary = summarize_multirun(tmp_path, baseline="mask=none", n_bootstrap=300)

    source = summary.html_path.read_text()
    page = Page(source)
    assert summary.html_path.name == "summary.html"
    assert page.images() == [summary.plot_path.read_bytes()]
    assert page.links_out() == []
    markdown = summary.markdown_path.read_text()
    for title in ("Arms: patient level, pooled", "Paired by patient vs baseline", "Failed runs"):
        section = markdown.split(f"## {title}\n")[1].split("\n#")[0]
        assert page.table(title) == markdown_rows(section), title
    paired = {(row[0], row[2]): row for row in page.table("Paired by patient vs baseline")[1:]}
    gain = paired["mask=content_based", "patient AUROC"]
    assert gain[-1] == "excludes 0 after Holm (2 comparisons)"
    assert float(gain[6].strip("[]").split(",")[0]) > 0
    same = paired["mask=ellipse", "patient AUROC"]
    assert same[5:8] == ["+0.000", "[+0.000, +0.000]", "1"]
    assert same[-1] == (
        "not significant at 5% after Holm (2 comparisons); compatible with differences from "
        "+0.000 to +0.000"
    )
    assert "Baseline: mask=none." in page.text
    assert trick not in source and trick in page.text


def test_seeds_on_the_same_patients_do_not_add_patients(tmp_path: Path) -> None:
    """Five identical seeds are one seed: the same patients, the same interval; `patients`
    counts distinct patients and `replicates` the seeds."""
    noise = np.random.default_rng(5).normal(size=90)
    weak = 1 / (1 + np.exp(-(0.8 * LABELS + noise)))
    strong = 1 / (1 + np.exp(-(1.4 * LABELS + noise)))
    once, five = tmp_path / "once", tmp_path / "five"
    make_cv_jobs(once, "none", weak, seed=1)
    make_cv_jobs(once, "ellipse", strong, seed=1)
    for seed in range(1, 6):
        make_cv_jobs(five, "none", weak, seed=seed)
        make_cv_jobs(five, "ellipse", strong, seed=seed)

    single = summarize_multirun(once, baseline="mask=none", n_bootstrap=1000)
    repeated = summarize_multirun(five, baseline="mask=none", n_bootstrap=1000)

    def auroc(summary: Summary) -> tuple[Estimate, Estimate]:
        (paired,) = summary.patient_comparisons
        assert paired.result is not None
        row = next(row for row in summary.rows if row.arm == "mask=ellipse")
        assert row.patient is not None
        return paired.result.estimates["auroc"], row.patient["auroc"]

    (diff_1, arm_1), (diff_5, arm_5) = auroc(single), auroc(repeated)
    assert diff_5.ci == pytest.approx(diff_1.ci) and diff_5.p == pytest.approx(diff_1.p)
    assert arm_5.ci == pytest.approx(arm_1.ci)
    assert (diff_5.n_patients, diff_5.n_replicates) == (90, 5)
    assert (arm_5.n_patients, arm_5.n_replicates) == (90, 5)
    markdown = repeated.markdown_path.read_text()
    assert "all 5 replicates scored the same 90 patients" in markdown
    with repeated.csv_path.open() as handle:
        rows = {row["arm"]: row for row in csv.DictReader(handle)}
    assert (rows["mask=ellipse"]["n_patients"], rows["mask=ellipse"]["n_replicates"]) == ("90", "5")


def test_holm_family_simultaneous_intervals_and_n_a(tmp_path: Path) -> None:
    noise = np.random.default_rng(6).normal(size=90)
    make_cv_jobs(tmp_path, "none", 1 / (1 + np.exp(-(0.8 * LABELS + noise))))
    for arm, shift in (("ellipse", 1.2), ("rectangle", 1.6), ("adaptive", 2.5)):
        make_cv_jobs(tmp_path, arm, 1 / (1 + np.exp(-(shift * LABELS + noise))))

    plain = summarize_multirun(tmp_path, baseline="mask=none", n_bootstrap=2000)
    joint = summarize_multirun(tmp_path, baseline="mask=none", n_bootstrap=2000, simultaneous=True)

    raw = [c.result.estimates["auroc"].p for c in plain.patient_comparisons if c.result]
    assert [c.adjusted_p for c in plain.patient_comparisons] == pytest.approx(list(holm(raw)))
    for a, b in zip(plain.patient_comparisons, joint.patient_comparisons, strict=True):
        assert a.primary_ci is not None and b.primary_ci is not None
        assert b.primary_ci[0] < a.primary_ci[0] and b.primary_ci[1] > a.primary_ci[1]
    markdown = joint.markdown_path.read_text()
    assert "simultaneous: each at level 1 - 0.05/3 (Bonferroni)" in markdown
    assert "Primary metric: patient AUROC" in markdown
    with (tmp_path / "comparisons.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    auroc_rows = [row for row in rows if row["metric"] == "patient/auroc"]
    assert all(row["p_holm"] for row in auroc_rows)
    assert not any(row["p_holm"] for row in rows if row["metric"] == "patient/balanced_acc")

    nan = Estimate(float("nan"), (float("nan"),) * 2, 0, 1, (), None, float("nan"))  # type: ignore[arg-type]
    assert primary_verdict(nan, nan.ci, float("nan"), 3).startswith("n/a: ")
    assert exploratory_verdict((float("nan"), 0.1), "n/a").startswith("n/a: ")
