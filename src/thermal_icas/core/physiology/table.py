"""Every image's regional temperatures, read the way its run reads the image: the same file
reading (`Reading`: deg C through the window, or a picture's relative scale), the same face
(`face_locator`), turned upright and centred on its midline."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from thermal_icas.core.data.preprocess import face_locator
from thermal_icas.core.data.reading import Reading
from thermal_icas.core.masks.masking import Masking
from thermal_icas.core.physiology.regions import image_regions

log = logging.getLogger(__name__)


def unit(reading: Reading) -> str:
    """What the regional values are measured in."""
    return "deg C" if reading.temperature else "relative (the picture's 0-1 scale)"


def region_table(paths: Sequence[str], reading: Reading, masking: Masking) -> np.ndarray:
    """(images, features) in the order of `paths` (files the run could read), in `unit`."""
    locator = face_locator(masking)
    rows = []
    for path in paths:
        picture, _ = reading(path)
        found = (
            masking.mask_for(path, picture)
            if locator is masking.method
            else locator.compute(picture)
        )
        face = found.mask if found.mask is not None else np.ones(picture.shape[:2], np.float32)
        values = picture.mean(axis=2)
        if reading.temperature:
            values = np.asarray(reading.window.to_celsius(values))
        rows.append(image_regions(values, face > 0.5))
    log.info("Regional temperatures of %d images, in %s", len(rows), unit(reading))
    return np.array(rows)
