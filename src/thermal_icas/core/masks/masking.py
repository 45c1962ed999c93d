"""How a mask is used: which background replaces non-face pixels, and where masks are cached."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from thermal_icas.core.errors import ConfigError
from thermal_icas.core.masks.base import FaceMask, MaskResult, NoMask
from thermal_icas.core.masks.cache import MaskCache, mask_to_uint8

log = logging.getLogger(__name__)

BACKGROUND_CHOICES = "0.0 (black), -1.0 (-1 after normalisation), mean (the normalisation mean)"


@dataclass(frozen=True)
class MaskedImage:
    image: np.ndarray
    mask: np.ndarray | None
    fallback: bool


class Masking:
    """Applies a FaceMask with a background policy, computing each image's mask once.

    Masks are quantised to 8 bits whether freshly computed or read from the disk cache, so a
    run gives the same numbers with a cold or a warm cache.
    """

    def __init__(
        self,
        method: FaceMask,
        background_value: float | str = 0.0,
        cache_dir: str | None = None,
    ) -> None:
        self.method = method
        self.background_value = background_value
        self.cache = (
            MaskCache(cache_dir, method.cache_key())
            if cache_dir and not isinstance(method, NoMask)
            else None
        )

    def read_as(self, reading_key: str) -> None:
        """Masks are cached by file content: a file read another way (a palette inverted, a
        temperature window) is another picture and gets masks of its own."""
        if self.cache is not None:
            suffix = f":{reading_key}" if reading_key else ""
            self.cache.mask_key = self.method.cache_key() + suffix

    def background(self, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
        """The RGB value in [0, 1] that background pixels take, given the normalisation."""
        value = self.background_value
        if value == "mean":
            return np.asarray(mean, np.float32)
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if number == -1.0:
            return np.asarray(mean, np.float32) - np.asarray(std, np.float32)
        if not 0.0 <= number <= 1.0:
            raise ConfigError(
                f"mask.background_value='{value}' is not one of {BACKGROUND_CHOICES} "
                "or a number in [0, 1]"
            )
        return np.full(3, number, np.float32)

    def mask_for(self, path: str, image: np.ndarray) -> MaskResult:
        result = self.cache.get(path, image.shape[:2]) if self.cache else None
        if result is None:
            result = self.method.compute(image)
            if result.mask is None:
                return result
            result = MaskResult(
                mask_to_uint8(result.mask).astype(np.float32) / 255.0, result.fallback
            )
            if self.cache:
                self.cache.put(path, result.mask, result.fallback)
        if result.fallback:
            log.warning("Face mask failed on '%s': used the fallback mask", path)
        return result

    def apply(self, path: str, image: np.ndarray, background: np.ndarray) -> MaskedImage:
        result = self.mask_for(path, image)
        if result.mask is None:
            return MaskedImage(image, None, False)
        weight = result.mask[:, :, None]
        masked = image * weight + background * (1.0 - weight)
        return MaskedImage(masked.astype(np.float32), result.mask, result.fallback)
