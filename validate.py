"""Validate a trained run on a new labelled cohort, nothing fitted again:
`python validate.py ckpt_path=<run> data_dir=<folder with the run's class folders>`.

The same as `thermal-icas validate ...` (see `thermal_icas.cli`)."""

import os
import sys
from pathlib import Path

os.environ.setdefault("THERMAL_ICAS_ROOT", str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    from thermal_icas.cli import main

    main(["validate", *sys.argv[1:]])
