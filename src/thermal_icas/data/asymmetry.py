"""Left/right face halves as one 6-channel input, aligned at the face's own midline."""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor, nn

from thermal_icas.settings import ConfigError

ALIGNMENTS = ("mirror", "translate")


def face_midline(face_mask: np.ndarray | None, width: int) -> float:
    """Centre of the face mask's bounding box; the image centre when no face is found."""
    if face_mask is None:
        return width / 2
    columns = np.flatnonzero((face_mask > 0.5).any(axis=0))
    if columns.size == 0:
        return width / 2
    return (columns[0] + columns[-1] + 1) / 2


def centre_on_midline(image: np.ndarray, midline: float, background: np.ndarray) -> np.ndarray:
    """Pad one side with background so the midline becomes the image's centre column."""
    width = image.shape[1]
    left, right = midline, width - midline
    pad = round(abs(left - right))
    if pad == 0:
        return image
    padding = (0, 0, pad, 0) if left < right else (0, 0, 0, pad)
    return cv2.copyMakeBorder(image, *padding, cv2.BORDER_CONSTANT, value=background.tolist())


class SplitHalves(nn.Module):
    """(C, H, W) face centred on its midline -> (2C, H, W // 2): left half, then right half.

    `mirror` flips the right half so the same anatomical point sits at the same pixel in both
    halves; `translate` only shifts it (the older script's behaviour), for comparison.
    """

    def __init__(self, align: str = "mirror") -> None:
        super().__init__()
        if align not in ALIGNMENTS:
            raise ConfigError(f"asymmetry.align='{align}' must be one of {ALIGNMENTS}")
        self.align = align

    def forward(self, image: Tensor) -> Tensor:
        half = image.shape[-1] // 2
        left, right = image[..., :half], image[..., image.shape[-1] - half :]
        if self.align == "mirror":
            right = right.flip(-1)
        return torch.cat([left, right], dim=-3)
