"""Summarise a Hydra multirun: patient-level results per arm and paired tests vs a baseline.

    python scripts/summarize.py MULTIRUN_DIR [--baseline "mask=none,attention=off"]
                                             [--bootstrap 10000] [--simultaneous]
                                             [--view shift]

Writes summary.md, summary.html (the same with the plot, one self-contained page),
summary.csv, comparisons.csv and summary.png into MULTIRUN_DIR and prints summary.md.
`--view shift` summarises the jobs' test patients on another camera (eval.shift_dir) instead,
with each arm's drop from its own test, into MULTIRUN_DIR/shift/.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from thermal_icas.reporting.summary import DEFAULT_BASELINE, summarize_multirun


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("multirun_dir", type=Path, help="Hydra sweep folder (holds the job dirs)")
    parser.add_argument(
        "--baseline",
        default=DEFAULT_BASELINE,
        help=f"key=value pairs that pick the baseline arm (default: {DEFAULT_BASELINE})",
    )
    parser.add_argument(
        "--bootstrap",
        type=int,
        default=10_000,
        help="bootstrap resamples of patients for the 95%% CIs",
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


if __name__ == "__main__":
    main()
