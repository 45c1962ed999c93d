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
    faces: Tensor  # (N, S, S) uint8, the face region at the same geometry (for focus metrics)
    coverage: Tensor  # (N,) share of each image covered by its mask (1.0 when unmasked)
    fallback: Tensor  # (N,) bool: the mask fell back to its fallback shape


def to_uint8(image: np.ndarray, image_size: int) -> np.ndarray:
    """A float [0, 1] HxW(xC) image as image_size x image_size uint8, area-averaged."""
    resized = cv2.resize(image, (image_size, image_size), interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(resized * 255.0), 0, 255).astype(np.uint8)


def to_uint8_chw(image: np.ndarray, image_size: int) -> Tensor:
    return torch.from_numpy(to_uint8(image, image_size)).permute(2, 0, 1).contiguous()


def preprocess_all(
    paths: Sequence[str],
    masking: Masking,
    background: np.ndarray,
    image_size: int,
    face_locator: FaceMask,
    centre: bool = False,
) -> PreprocessedImages:
    """Mask at native resolution (where the face outline is sharpest), then resize and stack.

    `face_locator` finds the face region that focus metrics score maps against, the same for
    every mask option (the run's mask itself when it is that locator). With `centre`, each
    image is also padded so that the face's midline becomes its centre column, where the
    asymmetry input splits it into halves.
    """
    log.info("Preprocessing %d images at %dx%d", len(paths), image_size, image_size)
    images = torch.empty((len(paths), 3, image_size, image_size), dtype=torch.uint8)
    faces = torch.empty((len(paths), image_size, image_size), dtype=torch.uint8)
    coverage = torch.ones(len(paths))
    fallback = torch.zeros(len(paths), dtype=torch.bool)
    for i, path in enumerate(paths):
        image = load_rgb(path)
        masked = masking.apply(path, image, background)
        picture = masked.image
        face = masked.mask if face_locator is masking.method else face_locator.compute(image).mask
        if face is None:
            face = np.ones(image.shape[:2], np.float32)
        if centre:
            midline = face_midline(face, image.shape[1])
            picture = centre_on_midline(picture, midline, background)
            face = centre_on_midline(face, midline, np.zeros(1, np.float32))
        images[i] = to_uint8_chw(picture, image_size)
        faces[i] = torch.from_numpy(to_uint8(face, image_size))
        if masked.mask is not None:
            coverage[i] = float(masked.mask.mean())
            fallback[i] = masked.fallback
    if fallback.any():
        log.warning("The face mask fell back on %d of %d images", int(fallback.sum()), len(paths))
    return PreprocessedImages(images, faces, coverage, fallback)
