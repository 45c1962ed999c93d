"""Fixed face-shaped masks: they ignore the image, so they cannot fail, and serve as fallbacks.

Sizes are fractions of the frame, because face crops fill the frame at any resolution; the
defaults leave out the frame's margin, where a crop's background and hair are.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import ClassVar

import numpy as np

from thermal_icas.core.masks.base import FaceMask, MaskResult
from thermal_icas.core.ranges import POSITIVE_SHARE, UNIT, Range

_CACHED_SHAPES = 8  # a dataset usually has one image size, rarely more than a few


def _centred_coordinates(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre offsets from the frame centre as fractions of the frame: (1, W) and (H, 1)."""
    x = (np.arange(w, dtype=np.float32) + 0.5) / w - 0.5
    y = (np.arange(h, dtype=np.float32) + 0.5) / h - 0.5
    return x[None, :], y[:, None]


def _frozen(mask: np.ndarray) -> np.ndarray:
    """Cached masks are shared between images, so nobody may write into them."""
    mask = mask.astype(np.float32)
    mask.flags.writeable = False
    return mask


@lru_cache(maxsize=_CACHED_SHAPES)
def _ellipse(h: int, w: int, semi_x: float, semi_y: float) -> np.ndarray:
    x, y = _centred_coordinates(h, w)
    return _frozen((x / semi_x) ** 2 + (y / semi_y) ** 2 <= 1.0)


@lru_cache(maxsize=_CACHED_SHAPES)
def _box(h: int, w: int, width: float, height: float) -> np.ndarray:
    x, y = _centred_coordinates(h, w)
    return _frozen((np.abs(x) <= width / 2) & (np.abs(y) <= height / 2))


@lru_cache(maxsize=_CACHED_SHAPES)
def _core_and_box(
    h: int, w: int, core: tuple[float, float, float], box: tuple[float, float, float]
) -> np.ndarray:
    semi_x, semi_y, core_weight = core
    width, height, box_weight = box
    return _frozen(
        np.maximum(
            _ellipse(h, w, semi_x, semi_y) * core_weight, _box(h, w, width, height) * box_weight
        )
    )


class EllipseMask(FaceMask):
    """A centred ellipse, the closest simple shape to a face; semi-axes are fractions of W, H."""

    RANGES: ClassVar[Mapping[str, Range]] = {
        "semi_axis_x": POSITIVE_SHARE,
        "semi_axis_y": POSITIVE_SHARE,
    }

    def __init__(self, semi_axis_x: float = 0.35, semi_axis_y: float = 0.40) -> None:
        self.check({"semi_axis_x": semi_axis_x, "semi_axis_y": semi_axis_y})
        self.semi_axis_x = semi_axis_x
        self.semi_axis_y = semi_axis_y

    def compute(self, image: np.ndarray) -> MaskResult:
        h, w = image.shape[:2]
        return MaskResult(_ellipse(h, w, self.semi_axis_x, self.semi_axis_y))


class RectangleMask(FaceMask):
    """The central `width` x `height` of the frame: keeps the cheeks and jaw an ellipse cuts."""

    RANGES: ClassVar[Mapping[str, Range]] = {"width": POSITIVE_SHARE, "height": POSITIVE_SHARE}

    def __init__(self, width: float = 0.70, height: float = 0.80) -> None:
        self.check({"width": width, "height": height})
        self.width = width
        self.height = height

    def compute(self, image: np.ndarray) -> MaskResult:
        h, w = image.shape[:2]
        return MaskResult(_box(h, w, self.width, self.height))


class AdaptiveMask(FaceMask):
    """A full-weight elliptical core inside a half-weight box: max(core, box).

    The core holds the regions every face crop contains; the box keeps the periphery, where
    the face's own extent varies, visible but damped instead of cutting it at a guessed edge.
    """

    RANGES: ClassVar[Mapping[str, Range]] = {
        **{name: POSITIVE_SHARE for name in ("core_semi_axis_x", "core_semi_axis_y")},
        **{name: POSITIVE_SHARE for name in ("box_width", "box_height")},
        **{name: UNIT for name in ("core_weight", "box_weight")},
    }

    def __init__(
        self,
        core_semi_axis_x: float = 0.30,
        core_semi_axis_y: float = 0.35,
        core_weight: float = 1.0,
        box_width: float = 0.60,
        box_height: float = 0.70,
        box_weight: float = 0.5,
    ) -> None:
        self.check(
            {
                "core_semi_axis_x": core_semi_axis_x,
                "core_semi_axis_y": core_semi_axis_y,
                "core_weight": core_weight,
                "box_width": box_width,
                "box_height": box_height,
                "box_weight": box_weight,
            }
        )
        self.core_semi_axis_x = core_semi_axis_x
        self.core_semi_axis_y = core_semi_axis_y
        self.core_weight = core_weight
        self.box_width = box_width
        self.box_height = box_height
        self.box_weight = box_weight

    def compute(self, image: np.ndarray) -> MaskResult:
        h, w = image.shape[:2]
        core = (self.core_semi_axis_x, self.core_semi_axis_y, self.core_weight)
        box = (self.box_width, self.box_height, self.box_weight)
        return MaskResult(_core_and_box(h, w, core, box))
