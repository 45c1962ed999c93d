"""The contract every face mask follows, and the identity mask for the `mask=none` arm."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from thermal_icas.core.ranges import Range, check_ranges


@dataclass(frozen=True)
class MaskResult:
    """A soft HxW float32 mask in [0, 1] (None: use the image unmasked).

    `fallback` is True when the mask's own method failed on this image and a fallback shape
    was used instead, so callers can count and report such images.
    """

    mask: np.ndarray | None
    fallback: bool = False


class FaceMask(ABC):
    """Computes a face mask from an HxWx3 float32 image in [0, 1] at native resolution.

    `RANGES` says what each parameter accepts; a mask checks its values as it is made, and
    `check` runs the same test on a config node, naming the setting (`mask.method.<name>`)."""

    RANGES: ClassVar[Mapping[str, Range]] = {}

    @classmethod
    def check(cls, values: Mapping[str, Any], prefix: str = "") -> None:
        check_ranges(values, prefix, cls.RANGES)

    @abstractmethod
    def compute(self, image: np.ndarray) -> MaskResult: ...

    def cache_key(self) -> str:
        """Identifies the mask and all its parameters, for caching masks on disk.

        Nested masks (a fallback) enter by their own key, not by a repr naming an address.
        """
        params = {k: v.cache_key() if isinstance(v, FaceMask) else v for k, v in vars(self).items()}
        return f"{type(self).__name__}{sorted(params.items())}"


class NoMask(FaceMask):
    """The ablation baseline: the model sees the whole frame."""

    def compute(self, image: np.ndarray) -> MaskResult:
        return MaskResult(None)
