"""Decode any supported image into one float RGB layout so everything downstream is uniform."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from thermal_icas.data.records import DatasetError


def load_rgb(path: str | Path) -> np.ndarray:
    """Return an HxWx3 float32 image in [0, 1].

    Grayscale is repeated to three channels, alpha is dropped and integer images are scaled by
    their type's full range, so 8-bit, 16-bit, grayscale and pseudo-colour files all load.
    """
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise DatasetError(f"cannot read image '{path}' (corrupt, truncated or not an image)")
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if np.issubdtype(image.dtype, np.integer):
        return image.astype(np.float32) / np.iinfo(image.dtype).max
    return np.clip(image.astype(np.float32), 0.0, 1.0)
