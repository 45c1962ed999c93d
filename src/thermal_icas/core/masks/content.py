"""A face mask found in the image itself: the face is the largest warm region in the frame."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, ClassVar

import cv2
import numpy as np

from thermal_icas.core.masks.base import FaceMask, MaskResult
from thermal_icas.core.masks.geometric import EllipseMask
from thermal_icas.core.ranges import SHORTER_SIDE_SHARE, UNIT, Range, require

# The frame border is where a crop's background shows (crops keep a margin around the face);
# if more than this share of it is above the threshold, the background is not black.
_BORDER_TOLERANCE = 0.02
# The background is modelled on a copy this small: a warm wall or a brightness gradient is smooth
# at the scale of the frame, and averaging pixels down to this size also averages out the noise.
_BACKGROUND_SIZE = 64
# Pixels of that copy within this distance of the face are not used to fit the background, so
# the face's blurred rim does not pull it up.
_BACKGROUND_GUARD = 1
# How many times the background fit and the face it reveals refine each other.
_BACKGROUND_ROUNDS = 3


def _channel_mean(image: np.ndarray) -> np.ndarray:
    """Brightness that is the same for a gray picture stored as gray, RGB or 16 bits."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 2:
        return image
    return cv2.transform(image, np.full((1, image.shape[2]), 1.0 / image.shape[2], np.float32))


@lru_cache(maxsize=8)
def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


@lru_cache(maxsize=1)
def _quadratic_basis(size: int) -> np.ndarray:
    """Terms 1, x, y, x^2, xy, y^2 over a size x size grid in [-1, 1], one row per pixel.

    A quadratic follows a linear ramp, the curve the palette puts on it and vignetting, yet
    is far too stiff to bend around a face-sized blob and mistake the face for background.
    """
    y, x = np.mgrid[-1.0 : 1.0 : size * 1j, -1.0 : 1.0 : size * 1j]
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1).reshape(-1, 6)


def _filled(region: np.ndarray, largest_only: bool) -> np.ndarray:
    """Regions with their holes filled (cold glasses, a cold nose tip, nostrils lie inside).

    Drawing outer outlines filled picks regions and fills their holes in one step, in a
    fraction of the time connected-component labelling and a flood fill take.
    """
    outlines, _ = cv2.findContours(region, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if largest_only and outlines:
        outlines = [max(outlines, key=cv2.contourArea)]
    filled = np.zeros_like(region)
    cv2.drawContours(filled, outlines, -1, 1, cv2.FILLED)
    return filled


class ContentBasedMask(FaceMask):
    """Segments the face as the largest region warmer than its background, holes filled.

    Crops sit on a black background, so a fixed `threshold` (a fraction of full scale) above
    black separates the face; 0.1 is far above a sensor's noise floor and below the coolest
    skin at the face's rim. Where the background is not black (a warm wall, a brightness
    gradient), the same threshold applies above a smooth background fitted to the frame, so the
    outline stays where the face meets its surroundings instead of moving with the wall.

    Sizes are fractions of the image's shorter side, so that one face gives the same mask at any
    resolution: `opening_radius` removes noise specks and thin bridges to touching clutter,
    `closing_radius` seals gaps in the outline so hole filling can work, and `edge_sigma` blurs
    the edge over about one pixel of a 512 px crop, to avoid a hard, artificial edge. Each is
    small next to the face, so the outline (where the mask crosses 0.5) barely moves; openings
    and closings larger than the outline's own detail would round it off.

    When no plausible face is found (its coverage of the frame is outside
    [`min_coverage`, `max_coverage`]) the `fallback` mask is used and reported.
    """

    RANGES: ClassVar[Mapping[str, Range]] = {
        "threshold": (lambda v: 0 <= v < 1, "a share of full scale in [0, 1)"),
        "min_coverage": UNIT,
        "max_coverage": UNIT,
        "opening_radius": SHORTER_SIDE_SHARE,
        "closing_radius": SHORTER_SIDE_SHARE,
        "edge_sigma": SHORTER_SIDE_SHARE,
    }

    @classmethod
    def check(cls, values: Mapping[str, Any], prefix: str = "") -> None:
        """The ranges, and a plausible face's coverage bounds in order."""
        super().check(values, prefix)
        if "min_coverage" in values and "max_coverage" in values:
            low, high = values["min_coverage"], values["max_coverage"]
            accepted = f"a share below {prefix}max_coverage={high}"
            require(f"{prefix}min_coverage", low, low < high, accepted)

    def __init__(
        self,
        threshold: float = 0.1,
        min_coverage: float = 0.05,
        max_coverage: float = 0.85,
        opening_radius: float = 0.002,
        closing_radius: float = 0.004,
        edge_sigma: float = 0.002,
        fallback: FaceMask | None = None,
    ) -> None:
        self.check(
            {
                "threshold": threshold,
                "min_coverage": min_coverage,
                "max_coverage": max_coverage,
                "opening_radius": opening_radius,
                "closing_radius": closing_radius,
                "edge_sigma": edge_sigma,
            }
        )
        self.threshold = threshold
        self.min_coverage = min_coverage
        self.max_coverage = max_coverage
        self.opening_radius = opening_radius
        self.closing_radius = closing_radius
        self.edge_sigma = edge_sigma
        self.fallback = fallback if fallback is not None else EllipseMask()

    def compute(self, image: np.ndarray) -> MaskResult:
        brightness = _channel_mean(image)
        face = None
        if self._background_is_black(brightness):
            face = self._face(brightness > self.threshold)
        if face is None:
            background = self._background(brightness)
            if background is not None:
                face = self._face(brightness - background > self.threshold)
        if face is None:
            return MaskResult(self.fallback.compute(image).mask, fallback=True)
        mask = face.astype(np.float32)
        sigma = self.edge_sigma * min(mask.shape)
        if sigma > 0:
            mask = cv2.GaussianBlur(mask, (0, 0), sigma)
        return MaskResult(mask)

    @staticmethod
    def _pixels(fraction: float, shape: tuple[int, ...]) -> int:
        """At least one pixel unless the step is switched off (0), so it acts at any size."""
        return max(1, round(fraction * min(shape[:2]))) if fraction > 0 else 0

    def _background_is_black(self, brightness: np.ndarray) -> bool:
        border = np.concatenate(
            [brightness[0], brightness[-1], brightness[1:-1, 0], brightness[1:-1, -1]]
        )
        return float(np.mean(border > self.threshold)) <= _BORDER_TOLERANCE

    def _face(self, foreground: np.ndarray) -> np.ndarray | None:
        """The largest region of `foreground`, cleaned and filled; None if implausibly sized."""
        region = foreground.astype(np.uint8)
        for operation, fraction in (
            (cv2.MORPH_OPEN, self.opening_radius),
            (cv2.MORPH_CLOSE, self.closing_radius),
        ):
            radius = self._pixels(fraction, region.shape)
            if radius > 0:
                region = cv2.morphologyEx(region, operation, _disk(radius))
        face = _filled(region, largest_only=True)
        coverage = float(np.count_nonzero(face)) / face.size
        return face if self.min_coverage <= coverage <= self.max_coverage else None

    def _background(self, brightness: np.ndarray) -> np.ndarray | None:
        """A smooth brightness field fitted to everything but the face (None: nothing to fit).

        Starts from Otsu's split into warm and cool, then alternates between fitting the cool
        part and re-marking as warm whatever stands `threshold` above the fit, holes filled.
        """
        size = _BACKGROUND_SIZE
        small = cv2.resize(brightness, (size, size), interpolation=cv2.INTER_AREA)
        small_u8 = np.clip(small * 255.0 + 0.5, 0, 255).astype(np.uint8)
        otsu, _ = cv2.threshold(small_u8, 0, 1, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        warm = (small_u8 > otsu).astype(np.uint8)
        basis = _quadratic_basis(size)
        values = small.reshape(-1).astype(np.float64)
        for _ in range(_BACKGROUND_ROUNDS):
            warm = cv2.dilate(_filled(warm, largest_only=False), _disk(_BACKGROUND_GUARD))
            cool = warm.reshape(-1) == 0
            if np.count_nonzero(cool) < 4 * basis.shape[1]:
                return None
            used = basis[cool]
            # The normal equations are 6x6; lstsq copes should the cool pixels all lie on a line.
            coefficients = np.linalg.lstsq(used.T @ used, used.T @ values[cool], rcond=None)[0]
            fitted = (basis @ coefficients).reshape(size, size).astype(np.float32)
            warm = (small - fitted > self.threshold).astype(np.uint8)
        h, w = brightness.shape
        return cv2.resize(fitted, (w, h), interpolation=cv2.INTER_LINEAR)
