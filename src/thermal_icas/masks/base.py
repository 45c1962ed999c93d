"""The contract every face mask follows, and the identity mask for the `mask=none` arm."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class FaceMask(ABC):
    """Computes a soft face mask in [0, 1] from an HxWx3 float image at native resolution."""

    @abstractmethod
    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        """Return an HxW float32 mask, or None when the image is to be used unmasked."""


class NoMask(FaceMask):
    """The ablation baseline: the model sees the whole frame."""

    def __call__(self, image: np.ndarray) -> None:
        return None


def apply_mask(image: np.ndarray, mask: np.ndarray | None, background: float = 0.0) -> np.ndarray:
    if mask is None:
        return image
    weight = mask[:, :, None].astype(np.float32)
    return image * weight + background * (1.0 - weight)
