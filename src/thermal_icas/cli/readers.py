"""The commands that read finished run folders or sweeps (plain options, `--help`):
summarize a sweep, rebuild a run's report, explain a run's cohort."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from thermal_icas.core.data.splits import SPLITS


def summarize(argv: Sequence[str], prog: str) -> None:
    """Summarise a Hydra multirun: patient-level results per arm and paired tests against a
    baseline. Writes summary.md, summary.html, summary.csv, comparisons.csv and summary.png into
    the sweep folder and prints summary.md; `--view shift` summarises the jobs' test patients
    on another camera (eval.shift_dir) instead, with each arm's drop, into <sweep>/shift/."""
    from thermal_icas.analysis.summary import DEFAULT_BASELINE, summarize_multirun

    parser = _parser(prog, summarize)
    parser.add_argument("multirun_dir", type=Path, help="Hydra sweep folder (holds the job dirs)")
    parser.add_argument(
        "--baseline",
        default=DEFAULT_BASELINE,
        help=f"key=value pairs that pick the baseline arm (default: {DEFAULT_BASELINE})",
    )
    parser.add_argument(
        "--bootstrap", type=int, default=10_000, help="bootstrap resamples of patients"
    )
    parser.add_argument(
        "--simultaneous",
        action="store_true",
        help="intervals of the patient AUROC comparisons that hold jointly (Bonferroni)",
    )
    parser.add_argument(
        "--view",
        default="",
        choices=("", "shift"),
        help="shift: the test patients on eval.shift_dir's camera, and each arm's drop",
    )
    args = parser.parse_args(argv)
    try:
        summary = summarize_multirun(
            args.multirun_dir,
            args.baseline,
            args.bootstrap,
            simultaneous=args.simultaneous,
            view=args.view,
        )
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: {error}") from error
    print(summary.markdown_path.read_text(), end="")


def report(argv: Sequence[str], prog: str) -> None:
    """Rebuild report.html, one self-contained page of a run's results, in a run folder (every
    run writes it as it ends): for a run made before the report existed or after
    `explain-cohort` added the cohort explanation. Reads the run folder only."""
    from thermal_icas.analysis.html_report import write_report

    parser = _parser(prog, report)
    parser.add_argument("run_dir", type=Path, help="a run folder (holds metrics.json)")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.run_dir)
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: {error}") from error
    print(path)


def explain_cohort(argv: Sequence[str], prog: str) -> None:
    """Where a finished run's classifier looks, by class, over a whole split: writes
    explain/cohort/class_maps.png (class-average maps on midline-aligned faces and their
    difference) and explain/cohort/regions.csv (per-region tests of ICAS against non-ICAS
    patients) into the run folder, prints the table and rewrites its report.html."""
    parser = _parser(prog, explain_cohort)
    parser.add_argument("run_dir", type=Path, help="a finished run folder")
    parser.add_argument("--split", choices=SPLITS, default="test")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    args = parser.parse_args(argv)

    from thermal_icas.analysis.explain_cohort import explain_cohort as explain
    from thermal_icas.analysis.explain_cohort import format_table
    from thermal_icas.analysis.html_report import write_report
    from thermal_icas.analysis.trained_run import load_run
    from thermal_icas.cli.runs import device, exit_on_user_error

    try:
        result = explain(load_run(args.run_dir, device(args.device)), args.split, args.batch_size)
    except Exception as error:
        exit_on_user_error(error)
        raise
    print(format_table(result.tests))
    print(f"class maps: {result.maps_path}")
    print(f"regions: {result.regions_path}")
    # the run's report shows the cohort analysis once it exists
    print(f"report: {write_report(args.run_dir)}")


def _parser(prog: str, command: object) -> argparse.ArgumentParser:
    doc = (command.__doc__ or "").strip()
    return argparse.ArgumentParser(prog=prog, description=" ".join(doc.split()))
