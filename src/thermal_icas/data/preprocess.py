"""Decode, mask and resize every image exactly once; epochs then only augment."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

from thermal_icas.data.imageio import load_rgb
from thermal_icas.masks.masking import Masking

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreprocessedImages:
    images: Tensor  # (N, 3, S, S) uint8, masked
    coverage: Tensor  # (N,) share of each image covered by its mask (1.0 when unmasked)
    fallback: Tensor  # (N,) bool: the mask fell back to its fallback shape


def to_uint8_chw(image: np.ndarray, image_size: int) -> Tensor:
    resized = cv2.resize(image, (image_size, image_size), interpolation=cv2.INTER_AREA)
    array = np.clip(np.rint(resized * 255.0), 0, 255).astype(np.uint8)
    return torch.from_numpy(array).permute(2, 0, 1).contiguous()


def preprocess_all(
    paths: Sequence[str], masking: Masking, background: np.ndarray, image_size: int
) -> PreprocessedImages:
    """Mask at native resolution (where the face outline is sharpest), then resize and stack."""
    log.info("Preprocessing %d images at %dx%d", len(paths), image_size, image_size)
    images = torch.empty((len(paths), 3, image_size, image_size), dtype=torch.uint8)
    coverage = torch.ones(len(paths))
    fallback = torch.zeros(len(paths), dtype=torch.bool)
    for i, path in enumerate(paths):
        masked = masking.apply(path, load_rgb(path), background)
        images[i] = to_uint8_chw(masked.image, image_size)
        if masked.mask is not None:
            coverage[i] = float(masked.mask.mean())
            fallback[i] = masked.fallback
    if fallback.any():
        log.warning("The face mask fell back on %d of %d images", int(fallback.sum()), len(paths))
    return PreprocessedImages(images, coverage, fallback)
