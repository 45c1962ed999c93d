"""Explanation maps drawn over the face the model was given: rows of input | face | map(s)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from torch import Tensor

from thermal_icas.core.explain.focus import upsample
from thermal_icas.core.explain.maps import ExplanationMaps

CAPTION_HEIGHT = 18
HEAT_WEIGHT = 0.45


def heat_overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """An HxWx3 uint8 image with a map (scaled to its own maximum) blended over it in jet."""
    heat = cv2.resize(heat.astype(np.float32), (image.shape[1], image.shape[0]))
    scaled = np.clip(heat / max(float(heat.max()), 1e-12) * 255.0, 0, 255).astype(np.uint8)
    colour = cv2.cvtColor(cv2.applyColorMap(scaled, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    return cv2.addWeighted(image, 1.0 - HEAT_WEIGHT, colour, HEAT_WEIGHT, 0.0)


def explanation_rows(
    images: Tensor,
    faces: Tensor,
    maps: ExplanationMaps,
    captions: Sequence[str],
    tile: int = 128,
) -> np.ndarray:
    """An RGB uint8 sheet, one captioned row per image: input | face | class map | gate.

    `images` are the cached (B, 3, S, S) uint8 model inputs (whole faces) and
    `faces` the (B, S, S) uint8 face regions; the gate column appears when the model has one.
    """
    size = images.shape[-1]
    columns = [upsample(maps.cam, (size, size))]
    if maps.gate is not None:
        columns.append(upsample(maps.gate, (size, size)))
    titles = ["input", "face", "class map", "attention gate"][: 2 + len(columns)]
    rows = [np.hstack([_caption(title, tile) for title in titles])]
    for i, caption in enumerate(captions):
        picture = _tile(images[i].permute(1, 2, 0).numpy(), tile)
        face = _tile(np.repeat(faces[i].numpy()[:, :, None], 3, axis=2), tile)
        panels = [picture, face] + [heat_overlay(picture, c[i].numpy()) for c in columns]
        row = np.hstack(panels)
        rows.append(np.vstack([_caption(caption, row.shape[1]), row]))
    return np.vstack(rows)


def _tile(image: np.ndarray, tile: int) -> np.ndarray:
    return cv2.resize(np.ascontiguousarray(image), (tile, tile), interpolation=cv2.INTER_LINEAR)


def _caption(text: str, width: int) -> np.ndarray:
    strip = np.full((CAPTION_HEIGHT, width, 3), 255, np.uint8)
    cv2.putText(strip, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return strip
