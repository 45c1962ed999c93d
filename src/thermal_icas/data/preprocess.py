"""Decode, mask and resize every image exactly once; epochs then only augment."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor

from thermal_icas.data.asymmetry import centre_on_midline, face_midline
from thermal_icas.data.imageio import load_rgb
from thermal_icas.masks.base import FaceMask
from thermal_icas.masks.masking import Masking

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreprocessedImages:
    images: Tensor  # (N, 3, S, S) uint8, masked
    coverage: Tensor  # (N,) share of each image covered by its mask (1.0 when unmasked)
    fallback: Tensor  # (N,) bool: the mask fell back to its fallback shape


def to_uint8(image: np.ndarray, image_size: int) -> np.ndarray:
    """A float [0, 1] HxWxC image as image_size x image_size uint8, area-averaged."""
    resized = cv2.resize(image, (image_size, image_size), interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(resized * 255.0), 0, 255).astype(np.uint8)


def to_uint8_chw(image: np.ndarray, image_size: int) -> Tensor:
    return torch.from_numpy(to_uint8(image, image_size)).permute(2, 0, 1).contiguous()


def preprocess_all(
    paths: Sequence[str],
    masking: Masking,
    background: np.ndarray,
    image_size: int,
    face_locator: FaceMask | None = None,
) -> PreprocessedImages:
    """Mask at native resolution (where the face outline is sharpest), then resize and stack.

    With a `face_locator`, each image is also padded so that the face's midline becomes its
    centre column, where the asymmetry input splits it into halves.
    """
    log.info("Preprocessing %d images at %dx%d", len(paths), image_size, image_size)
    images = torch.empty((len(paths), 3, image_size, image_size), dtype=torch.uint8)
    coverage = torch.ones(len(paths))
    fallback = torch.zeros(len(paths), dtype=torch.bool)
    for i, path in enumerate(paths):
        image = load_rgb(path)
        masked = masking.apply(path, image, background)
        picture = masked.image
        if face_locator is not None:
            face = (
                masked.mask if face_locator is masking.method else face_locator.compute(image).mask
            )
            picture = centre_on_midline(picture, face_midline(face, image.shape[1]), background)
        images[i] = to_uint8_chw(picture, image_size)
        if masked.mask is not None:
            coverage[i] = float(masked.mask.mean())
            fallback[i] = masked.fallback
    if fallback.any():
        log.warning("The face mask fell back on %d of %d images", int(fallback.sum()), len(paths))
    return PreprocessedImages(images, coverage, fallback)
