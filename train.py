"""Train and test an ICAS classifier: `python train.py [group=option ...] [key=value ...]`.

The same as `thermal-icas train ...` (see `thermal_icas.cli`)."""

import os
import sys
from pathlib import Path

os.environ.setdefault("THERMAL_ICAS_ROOT", str(Path(__file__).resolve().parent))

if __name__ == "__main__":
    from thermal_icas.cli import main

    main(["train", *sys.argv[1:]])
