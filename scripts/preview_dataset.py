"""Contact sheet of a dataset, to check by eye what the model will be trained on.

    python scripts/preview_dataset.py                      # the embedded synthetic dataset
    python scripts/preview_dataset.py data.data_dir=/path/to/data out=sheet.png per_class=8

Takes the same overrides as train.py; images are shown after loading and masking, one row per
class.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import open_dict

from thermal_icas.data.imageio import load_rgb

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> None:
    options = dict(
        arg.split("=", 1) for arg in argv if arg.split("=", 1)[0] in {"out", "per_class"}
    )
    overrides = [arg for arg in argv if arg.split("=", 1)[0] not in options]
    os.environ.setdefault("THERMAL_ICAS_ROOT", str(ROOT))
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[*overrides, "paths.output_dir=."])
    with open_dict(cfg):
        cfg.data.image_size = 128
    data = instantiate(cfg.data)
    data.setup()
    per_class = int(options.get("per_class", 6))
    rows = []
    for label, name in enumerate(data.classes.names):
        picked = [i for i, (r, _) in enumerate(data.rows) if r.label == label][:per_class]
        tiles = [data.images[i].permute(1, 2, 0).numpy() for i in picked]
        tiles += [np.zeros((128, 128, 3), np.uint8)] * (per_class - len(tiles))
        row = np.ascontiguousarray(np.hstack(tiles))
        cv2.putText(row, name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        rows.append(row)
    out = Path(options.get("out", "dataset_preview.png"))
    cv2.imwrite(str(out), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    print(
        f"wrote {out} ({len(data.rows)} images; native size of the first: "
        f"{load_rgb(data.rows[0][0].path).shape[:2]})"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
