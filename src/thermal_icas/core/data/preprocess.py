"""Decode, mask and resize every image exactly once; epochs then only augment."""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from thermal_icas.core.asymmetry import Asymmetry, align_on_midline
from thermal_icas.core.data.palette import PaletteInverter
from thermal_icas.core.data.reading import Reading
from thermal_icas.core.data.transforms import eval_transform
from thermal_icas.core.errors import ConfigError, DatasetError
from thermal_icas.core.masks.base import FaceMask
from thermal_icas.core.masks.content import ContentBasedMask
from thermal_icas.core.masks.masking import Masking

log = logging.getLogger(__name__)

# data.normalize: dataset (pixels as the camera gave them; the dataset statistics normalise
# them later) or face (each face's own pixels to one mean and spread)
NORMALIZATIONS = ("dataset", "face")
# where `face` puts a face's mean and spread, in [0, 1]: 3.3 spreads either side fit
FACE_MEAN, FACE_SPREAD = 0.5, 0.15
# a mean share of off-palette pixels above this says the wrong palette was named: the embedded
# inferno faces leave 5-9% per image off inferno (blended edges, noise, JPEG), 82-100% off jet
# or turbo
OFF_PALETTE_WARNING = 0.25


@dataclass(frozen=True)
class PreprocessedImages:
    images: Tensor  # (N, 3, S, S) uint8, masked
    faces: Tensor  # (N, S, S) uint8, the face region at the same geometry (for focus metrics)
    coverage: Tensor  # (N,) share of each image covered by its mask (1.0 when unmasked)
    fallback: Tensor  # (N,) bool: the mask fell back to its fallback shape
    kept: list[int]  # positions in the input paths of the N images above
    skipped: list[tuple[str, str]]  # (path, reason) of the images that could not be used
    # (N,) share of each image's pixels far from every palette colour (with data.palette)
    off_palette: Tensor | None = None


def to_uint8(image: np.ndarray, image_size: int) -> np.ndarray:
    """A float [0, 1] HxW(xC) image as image_size x image_size uint8, area-averaged."""
    resized = cv2.resize(image, (image_size, image_size), interpolation=cv2.INTER_AREA)
    return np.clip(np.rint(resized * 255.0), 0, 255).astype(np.uint8)


def to_uint8_chw(image: np.ndarray, image_size: int) -> Tensor:
    return torch.from_numpy(to_uint8(image, image_size)).permute(2, 0, 1).contiguous()


def face_locator(masking: Masking) -> FaceMask:
    """What finds the face (its midline for the asymmetry input, its region for focus
    metrics): the run's mask if it looks at the image, else a content-based mask used for
    that alone, so every mask option is scored against the same faces."""
    method = masking.method
    return method if isinstance(method, ContentBasedMask) else ContentBasedMask()


class Preprocessor:
    """How a run turns image files into model inputs, the same in training and in
    `predict.py`: read (`Reading`: pictures, palettes, temperatures in their window), masked at
    native size, turned upright and centred on the midline for the asymmetry arms, resized and
    kept as uint8; `eval_transform` then normalises them."""

    def __init__(
        self,
        mask: Masking,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        asymmetry: Asymmetry | None = None,
        reading: Reading | None = None,
        normalize: str = "dataset",
    ) -> None:
        if normalize not in NORMALIZATIONS:
            raise ConfigError(f"data.normalize='{normalize}' must be one of {NORMALIZATIONS}")
        self.normalize = normalize
        self.mask = mask
        self.image_size = image_size
        self.mean = tuple(mean)
        self.std = tuple(std)
        # the asymmetry arms compare the halves: faces upright, centred on their midline
        self.on_midline = asymmetry is not None
        self.reading = reading if reading is not None else Reading()
        mask.read_as(self.reading.key())
        if self.reading.temperature and isinstance(mask.method, ContentBasedMask):
            log.info(
                "data.format=%s: the content mask keeps skin above %.1f deg C",
                self.reading.format,
                float(self.reading.window.to_celsius(mask.method.threshold)),
            )

    def background(self) -> np.ndarray:
        """The value of non-face pixels, per channel, in [0, 1]."""
        return self.mask.background(self.mean, self.std)

    def __call__(self, paths: Sequence[str]) -> PreprocessedImages:
        return preprocess_all(
            paths,
            self.mask,
            self.background(),
            self.image_size,
            face_locator(self.mask),
            centre=self.on_midline,
            reading=self.reading,
            per_face=self.normalize == "face",
        )

    def eval_transform(self) -> nn.Module:
        return eval_transform(self.mean, self.std)


def preprocess_all(
    paths: Sequence[str],
    masking: Masking,
    background: np.ndarray,
    image_size: int,
    face_locator: FaceMask,
    centre: bool = False,
    reading: Reading | None = None,
    per_face: bool = False,
) -> PreprocessedImages:
    """Mask at native resolution (where the face outline is sharpest), then resize and stack.

    `reading` turns each file into its picture (`Reading`; the default reads pictures as they
    are). `face_locator` finds the face region that focus metrics score maps against, the same
    for every mask option (the run's mask itself when it is that locator). With `centre`, each
    face is also turned upright and padded so that its midline becomes the centre column,
    where the asymmetry arms split it into halves. With `per_face`, each face's pixels are
    standardised on their own (`standardize_face`).
    """
    reading = reading if reading is not None else Reading()
    log.info("Preprocessing %d images at %dx%d", len(paths), image_size, image_size)
    images = torch.empty((len(paths), 3, image_size, image_size), dtype=torch.uint8)
    faces = torch.empty((len(paths), image_size, image_size), dtype=torch.uint8)
    coverage = torch.ones(len(paths))
    fallback = torch.zeros(len(paths), dtype=torch.bool)
    off_palette = torch.zeros(len(paths))
    kept: list[int] = []
    skipped: list[tuple[str, str]] = []
    for position, path in enumerate(paths):
        try:
            image, far = reading(path)
        except DatasetError as error:
            log.warning("Skipped: %s", error)
            skipped.append((str(path), str(error)))
            continue
        i = len(kept)
        kept.append(position)
        off_palette[i] = far
        masked = masking.apply(path, image, background)
        picture = masked.image
        face = masked.mask if face_locator is masking.method else face_locator.compute(image).mask
        if face is None:
            face = np.ones(image.shape[:2], np.float32)
        if per_face:
            picture = standardize_face(picture, face > 0.5)
        if centre:
            picture, face = align_on_midline(picture, face, background)
        images[i] = to_uint8_chw(picture, image_size)
        faces[i] = torch.from_numpy(to_uint8(face, image_size))
        if masked.mask is not None:
            coverage[i] = float(masked.mask.mean())
            fallback[i] = masked.fallback
    n = len(kept)
    palette = reading.palette
    far = off_palette[:n] if palette is not None else None
    _warn_about(fallback[:n], far, palette)
    return PreprocessedImages(images[:n], faces[:n], coverage[:n], fallback[:n], kept, skipped, far)


def _warn_about(
    fallback: torch.Tensor, far: torch.Tensor | None, palette: PaletteInverter | None
) -> None:
    """Masks that fell back, and a palette that does not fit the images."""
    if fallback.any():
        log.warning(
            "The face mask fell back on %d of %d images", int(fallback.sum()), len(fallback)
        )
    if (
        palette is not None
        and far is not None
        and len(far)
        and float(far.mean()) > OFF_PALETTE_WARNING
    ):
        log.warning(
            "data.palette='%s' leaves %.0f%% of the pixels far from every palette colour: is it "
            "the palette the images were exported with?",
            palette.palette,
            100 * float(far.mean()),
        )


def standardize_face(image: np.ndarray, face: np.ndarray) -> np.ndarray:
    """The face's pixels (all channels alike) moved to FACE_MEAN with spread FACE_SPREAD, the
    rest left as they are: a camera's gain and offset, or a warmer room, no longer move the
    input, while what differs within the face (left against right) stays."""
    values = image[face]
    if values.size == 0:
        return image
    spread = max(float(values.std()), 1e-3)
    scaled = FACE_MEAN + FACE_SPREAD * (image - float(values.mean())) / spread
    return np.where(face[..., None], np.clip(scaled, 0, 1), image).astype(image.dtype)


def write_skipped(path: Path, skipped: Sequence[tuple[str, str]]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "reason"])
        writer.writerows(skipped)
