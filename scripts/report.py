"""Write report.html, one self-contained page of a run's results, into a run folder.

    python scripts/report.py RUN_DIR

Every run writes it as it ends; this rebuilds it, e.g. for a run made before the report existed
or after `scripts/explain_cohort.py` added the cohort explanation. Reads the run folder only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from thermal_icas.reporting.html_report import write_report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a run folder (holds metrics.json)")
    args = parser.parse_args(argv)
    try:
        path = write_report(args.run_dir)
    except (OSError, ValueError) as error:
        raise SystemExit(f"error: {error}") from error
    print(path)


if __name__ == "__main__":
    main()
