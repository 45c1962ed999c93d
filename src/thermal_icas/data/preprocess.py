"""Decode, mask and resize every image exactly once; epochs then only augment."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import Tensor

from thermal_icas.data.imageio import load_rgb
from thermal_icas.masks.base import FaceMask, apply_mask

log = logging.getLogger(__name__)


def preprocess_image(path: str, mask: FaceMask, image_size: int) -> Tensor:
    """Mask at native resolution (where the face outline is sharpest), then resize."""
    image = load_rgb(path)
    image = apply_mask(image, mask(image))
    resized = cv2.resize(image, (image_size, image_size), interpolation=cv2.INTER_AREA)
    array = np.clip(np.rint(resized * 255.0), 0, 255).astype(np.uint8)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def preprocess_all(paths: Sequence[str], mask: FaceMask, image_size: int) -> Tensor:
    """Stack all images into one uint8 tensor (N, 3, S, S), shared by every split and stage."""
    log.info("Preprocessing %d images at %dx%d", len(paths), image_size, image_size)
    images = torch.empty((len(paths), 3, image_size, image_size), dtype=torch.uint8)
    for i, path in enumerate(paths):
        images[i] = preprocess_image(path, mask, image_size)
    return images
