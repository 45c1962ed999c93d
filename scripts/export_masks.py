"""Write the face mask of every image in a folder, to inspect or reuse them elsewhere.

    python scripts/export_masks.py data_dir=IN out_dir=OUT mask=content_based

Any mask option or parameter override works (e.g. `mask=ellipse mask.method.semi_axis_x=0.3`).
Masks are 8-bit PNGs (0-255) at each image's own size, in OUT/<relative path>.png, beside
OUT/contact_sheet.png (image | mask | masked image for a sample).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import hydra
import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from thermal_icas.data.imageio import load_rgb
from thermal_icas.data.records import list_images
from thermal_icas.errors import DatasetError
from thermal_icas.masks.cache import mask_to_uint8
from thermal_icas.masks.masking import Masking
from thermal_icas.reporting.contact_sheet import contact_sheet

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("THERMAL_ICAS_ROOT", str(ROOT))


@hydra.main(version_base="1.3", config_path="../conf", config_name="export_masks")
def main(cfg: DictConfig) -> None:
    data_dir, out_dir = Path(cfg.data_dir).expanduser(), Path(cfg.out_dir).expanduser()
    if not data_dir.is_dir():
        raise DatasetError(f"data_dir '{data_dir}' does not exist or is not a folder")
    paths = list_images(data_dir)
    if not paths:
        raise DatasetError(f"data_dir '{data_dir}' holds no images")
    masking: Masking = instantiate(cfg.mask)
    coverages, fallbacks = [], 0
    for path in paths:
        image = load_rgb(path)
        result = masking.mask_for(str(path), image)
        mask = result.mask if result.mask is not None else np.ones(image.shape[:2], np.float32)
        target = (out_dir / path.relative_to(data_dir)).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), mask_to_uint8(mask))
        coverages.append(float(mask.mean()))
        fallbacks += result.fallback
    sample = [str(p) for p in paths[:: max(1, len(paths) // cfg.sheet_images)]][: cfg.sheet_images]
    sheet = contact_sheet(sample, masking, masking.background(cfg.mean, cfg.std))
    cv2.imwrite(str(out_dir / "contact_sheet.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(f"images={len(paths)} fallbacks={fallbacks} mean_coverage={np.mean(coverages):.4f}")
    print(f"masks written to {out_dir}")


if __name__ == "__main__":
    main()
