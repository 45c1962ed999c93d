"""Decode any supported image into one float RGB layout so everything downstream is uniform."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from thermal_icas.core.errors import DatasetError

# a file as it looks, HxWx3 float32 in [0, 1]: `load_rgb`, or a run's `Reading.appearance`
Look = Callable[[str | Path], np.ndarray]


def load_rgb(path: str | Path) -> np.ndarray:
    """Return an HxWx3 float32 image in [0, 1], upright.

    The EXIF orientation is applied, grayscale is repeated to three channels, alpha is dropped
    and 8- and 16-bit images are scaled by their full range, so grayscale and pseudo-colour
    files of either depth all load. Floating-point images must already lie in [0, 1]: raw
    temperatures or counts have no range this could assume.
    """
    image = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if image is None or image.size == 0:
        raise DatasetError(f"cannot read image '{path}' (corrupt, truncated or not an image)")
    # OpenCV's BGR reversed by indexing, which unlike cvtColor takes signed pixels too
    rgb = image[:, :, ::-1] if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    image = np.ascontiguousarray(rgb)
    if np.issubdtype(image.dtype, np.integer) and image.dtype.itemsize <= 2:
        # negative values of signed types have no temperature meaning here: they become 0
        full = np.iinfo(image.dtype).max
        return np.clip(image.astype(np.float32), 0, full) / full
    if np.issubdtype(image.dtype, np.floating):
        low, high = float(image.min()), float(image.max())
        if low >= 0.0 and high <= 1.0:
            return image.astype(np.float32)
        raise DatasetError(
            f"'{path}' holds floating-point values in [{low:g}, {high:g}], not [0, 1] "
            "(export 8- or 16-bit images)"
        )
    raise DatasetError(f"'{path}' has {image.dtype} pixels; export 8- or 16-bit images")
