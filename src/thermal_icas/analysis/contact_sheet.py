"""Image | mask | masked-image rows, to check by eye what the model is given."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from thermal_icas.core.data.preprocess import to_uint8
from thermal_icas.core.data.reading import Reading
from thermal_icas.core.masks.masking import Masking


def contact_sheet(
    paths: Sequence[str],
    masking: Masking,
    background: np.ndarray,
    reading: Reading,
    tile: int = 128,
) -> np.ndarray:
    """An (len(paths) * tile, 3 * tile, 3) uint8 RGB sheet, one row per image, each read as the
    run reads it (palette, temperature window)."""
    rows = []
    for path in paths:
        image = reading(path)[0]
        masked = masking.apply(path, image, background)
        mask = masked.mask if masked.mask is not None else np.ones(image.shape[:2], np.float32)
        panels = [image, np.repeat(mask[:, :, None], 3, axis=2), masked.image]
        rows.append(np.hstack([to_uint8(panel, tile) for panel in panels]))
    return np.vstack(rows)
