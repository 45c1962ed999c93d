"""Where a finished run's classifier looks, by class, over a whole split.

    python scripts/explain_cohort.py RUN_DIR [--split test] [--batch-size 64] [--device auto]

Writes explain/cohort/class_maps.png (class-average maps on midline-aligned faces and their
difference) and explain/cohort/regions.csv (per-region tests of ICAS vs non-ICAS patients) into
RUN_DIR, prints the table and rewrites RUN_DIR/report.html to show them; see
`thermal_icas.explain.regions` for the regions and tests.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from thermal_icas.data.splits import SPLITS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a finished run folder")
    parser.add_argument("--split", choices=SPLITS, default="test")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    args = parser.parse_args(argv)

    import torch

    from thermal_icas.errors import user_error
    from thermal_icas.explain.cohort import explain_cohort, format_table
    from thermal_icas.reporting.html_report import write_report
    from thermal_icas.trained_run import load_run

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        result = explain_cohort(load_run(args.run_dir, device), args.split, args.batch_size)
    except Exception as error:
        if (cause := user_error(error)) is None:
            raise
        raise SystemExit(f"error: {cause}") from None
    print(format_table(result.tests))
    print(f"class maps: {result.maps_path}")
    print(f"regions: {result.regions_path}")
    # the run's report shows the cohort analysis once it exists
    print(f"report: {write_report(args.run_dir)}")


if __name__ == "__main__":
    main()
