"""On-disk mask cache keyed by file content and mask parameters, shared across runs."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import cv2
import numpy as np

from thermal_icas.core.masks.base import MaskResult

# part of every key: raise it when decoding or a mask's computation changes, so masks cached
# by earlier code miss instead of being reused (2: images are decoded upright, per EXIF)
CACHE_VERSION = 2


def mask_to_uint8(mask: np.ndarray) -> np.ndarray:
    """The 8-bit form masks are stored and exported in (0-255)."""
    return np.rint(np.clip(mask, 0.0, 1.0) * 255).astype(np.uint8)


class MaskCache:
    """Stores soft masks as 8-bit PNGs; a changed file or changed parameters miss the cache."""

    def __init__(self, root: str | Path, mask_key: str) -> None:
        self.root = Path(root)
        self.mask_key = mask_key

    def _path(self, image_path: str | Path) -> Path:
        digest = hashlib.sha1(Path(image_path).read_bytes())
        digest.update(f"{CACHE_VERSION}:{self.mask_key}".encode())
        name = digest.hexdigest()
        return self.root / name[:2] / f"{name}.png"

    def get(self, image_path: str | Path, shape: tuple[int, ...]) -> MaskResult | None:
        """The cached mask of an image of that (height, width), or None on a miss; a file that
        cannot be read or has another shape is a miss too, and the next `put` replaces it."""
        path = self._path(image_path)
        for fallback in (False, True):
            candidate = path.with_suffix(".fallback.png") if fallback else path
            if not candidate.is_file():
                continue
            stored = cv2.imread(str(candidate), cv2.IMREAD_GRAYSCALE)
            if stored is not None and stored.shape == tuple(shape):
                return MaskResult(stored.astype(np.float32) / 255.0, fallback)
        return None

    def put(self, image_path: str | Path, mask: np.ndarray, fallback: bool) -> None:
        path = self._path(image_path)
        if fallback:
            path = path.with_suffix(".fallback.png")
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{uuid.uuid4().hex}.png")
        cv2.imwrite(str(temporary), mask_to_uint8(mask))
        os.replace(temporary, path)
