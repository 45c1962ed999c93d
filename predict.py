"""Predict with a trained run: `python predict.py ckpt_path=<run> input=<image or folder>`.

The same as `thermal-icas predict ...` (see `thermal_icas.cli`)."""

import os
import sys
from pathlib import Path

os.environ.setdefault("THERMAL_ICAS_ROOT", str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    from thermal_icas.cli import main

    main(["predict", *sys.argv[1:]])
