"""Export a trained run's classifier: `python export.py ckpt_path=<run> format=onnx`.

The same as `thermal-icas export ...` (see `thermal_icas.cli`)."""

import os
import sys
from pathlib import Path

os.environ.setdefault("THERMAL_ICAS_ROOT", str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    from thermal_icas.cli import main

    main(["export", *sys.argv[1:]])
