"""Image | mask | masked-image rows, to check by eye what the model is given."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from thermal_icas.data.imageio import load_rgb
from thermal_icas.masks.masking import Masking


def contact_sheet(
    paths: Sequence[str], masking: Masking, background: np.ndarray, tile: int = 128
) -> np.ndarray:
    """An (len(paths) * tile, 3 * tile, 3) uint8 RGB sheet, one row per image."""
    rows = []
    for path in paths:
        image = load_rgb(path)
        masked = masking.apply(path, image, background)
        mask = masked.mask if masked.mask is not None else np.ones(image.shape[:2], np.float32)
        panels = [image, np.repeat(mask[:, :, None], 3, axis=2), masked.image]
        rows.append(np.hstack([_tile(panel, tile) for panel in panels]))
    return np.vstack(rows)


def _tile(image: np.ndarray, size: int) -> np.ndarray:
    resized = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(resized * 255), 0, 255).astype(np.uint8)
