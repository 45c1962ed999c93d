"""What a camera or an export leaves in an image besides the face: size, format and bit depth,
JPEG quality, EXIF camera and date, which palette the colours fit, the background's level and
noise, the face's share of the frame. If these differ by class, a model can score how a picture
was taken instead of the patient (`data/confound.py` measures that). Cached per file content,
like the masks, so a run computes them once per image.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import uuid
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from thermal_icas.core.data.imageio import Look, load_rgb
from thermal_icas.core.data.palette import palette_lab, to_lab
from thermal_icas.core.masks.content import ContentBasedMask

# raise when a property's computation changes, so values cached by earlier code miss
ACQUISITION_VERSION = 1
# palettes thermal exports commonly use (matplotlib names): the one that leaves fewest face
# pixels far from its colours, if few enough, rendered the image. Only its name is a property:
# how far the pixels sit from a palette that did not render them depends on the face's
# temperatures, which is the signal, not the capture
KNOWN_PALETTES = ("gray", "inferno", "hot", "jet", "turbo", "rainbow")
PALETTE_FITS = 0.25
# CIELAB distance beyond which a pixel is off a palette (as data.palette_max_distance)
OFF_PALETTE_DISTANCE = 10.0
# pixels around the face left out of the background: two JPEG blocks, or this share of the
# shorter side if more
BACKGROUND_MARGIN = 16
BACKGROUND_MARGIN_SHARE = 0.05
# face pixels sampled per image for the palette fit
PALETTE_SAMPLE = 512
# the luminance quantisation table of the JPEG standard (Annex K) at quality 50, summed: an
# encoder's table over it gives its quality setting (the IJG scaling)
STANDARD_LUMINANCE_SUM = 3688
EXIF_MAKE, EXIF_MODEL, EXIF_DATETIME = 271, 272, 306
BITS = {"1": 1, "L": 8, "P": 8, "RGB": 8, "RGBA": 8, "CMYK": 8, "LA": 8, "I;16": 16}
BITS |= {"I;16B": 16, "I;16L": 16, "I": 32, "F": 32}
# the properties, numeric then categorical, in the order reports list them
NUMERIC = ("width", "height", "aspect", "bits", "jpeg_quality", "exif_date")
NUMERIC += ("background_level", "background_noise", "face_share")
CATEGORICAL = ("format", "mode", "camera", "palette")

Properties = dict[str, float | str]


def image_properties(path: str | Path, look: Look = load_rgb) -> Properties:
    """One image's acquisition properties, its pixels as they `look` (`Reading.appearance`);
    what a file does not record is nan (numeric) or an empty string (categorical)."""
    found: Properties = {**_header(Path(path)), **_pixels(look(path))}
    return {name: found.get(name, math.nan) for name in NUMERIC} | {
        name: str(found.get(name, "")) for name in CATEGORICAL
    }


def _header(path: Path) -> Properties:
    try:
        with Image.open(path) as image:
            exif = image.getexif()
            tables = getattr(image, "quantization", None) or {}
            found: Properties = {
                "width": float(image.width),
                "height": float(image.height),
                "aspect": image.width / image.height,
                "bits": float(BITS.get(image.mode, math.nan)),
                "format": image.format or "",
                "mode": image.mode,
                "camera": " ".join(
                    str(exif.get(tag, "")).strip() for tag in (EXIF_MAKE, EXIF_MODEL)
                ).strip(),
            }
    except (OSError, UnidentifiedImageError):
        return {"format": path.suffix.lower().lstrip(".")}
    if tables:
        found["jpeg_quality"] = jpeg_quality(sum(tables[0]))
    found["exif_date"] = _days(str(exif.get(EXIF_DATETIME, "")))
    return found


def jpeg_quality(luminance_sum: float) -> float:
    """The IJG quality setting (1-100) whose luminance table sums to this."""
    scale = 100.0 * luminance_sum / STANDARD_LUMINANCE_SUM
    quality = (200.0 - scale) / 2.0 if scale <= 100.0 else 5000.0 / scale
    return float(np.clip(quality, 1.0, 100.0))


def _days(stamp: str) -> float:
    """An EXIF `YYYY:MM:DD HH:MM:SS` as days since 1970; nan when absent or unreadable."""
    try:
        return datetime.strptime(stamp.strip(), "%Y:%m:%d %H:%M:%S").timestamp() / 86400.0
    except ValueError:
        return math.nan


def _pixels(image: np.ndarray) -> Properties:
    """Background level and noise outside the face, the face's share, and the palette."""
    face = ContentBasedMask().compute(image).mask
    inside = np.ones(image.shape[:2], bool) if face is None else face > 0.5
    grey = image.mean(axis=2)
    # the background is read away from the face: JPEG ringing carries the face's brightness,
    # which is the patient, some blocks out
    margin = max(BACKGROUND_MARGIN, round(BACKGROUND_MARGIN_SHARE * min(grey.shape)))
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * margin + 1, 2 * margin + 1))
    outside = grey[cv2.dilate(inside.astype(np.uint8), kernel) == 0]
    found = {
        "face_share": float(inside.mean()),
        "background_level": float(outside.mean()) if outside.size else math.nan,
        "background_noise": float(outside.std()) if outside.size else math.nan,
    }
    pixels = image[inside] if inside.any() else image.reshape(-1, 3)
    sample = pixels[np.linspace(0, len(pixels) - 1, min(PALETTE_SAMPLE, len(pixels))).astype(int)]
    lab = to_lab(sample[None])[0]
    off = {}
    for name in KNOWN_PALETTES:
        colours = palette_lab(name)
        squared = (lab**2).sum(1)[:, None] + (colours**2).sum(1)[None] - 2.0 * lab @ colours.T
        off[name] = float((squared.min(1) > OFF_PALETTE_DISTANCE**2).mean())
    best = min(off, key=off.__getitem__)
    return found | {"palette": best if off[best] <= PALETTE_FITS else "other"}


class PropertyCache:
    """One JSON file per image content under `root`, shared by runs (written atomically, so
    two runs on one new folder never read half a file)."""

    def __init__(
        self,
        root: str | Path,
        look: Look = load_rgb,
        look_key: str = "",
    ) -> None:
        self.root = Path(root)
        self.look = look
        self.look_key = f":{look_key}" if look_key else ""

    def __call__(self, path: str | Path) -> Properties:
        digest = hashlib.sha1(Path(path).read_bytes())
        digest.update(f"acquisition:{ACQUISITION_VERSION}{self.look_key}".encode())
        name = digest.hexdigest()
        file = self.root / name[:2] / f"{name}.json"
        try:
            return json.loads(file.read_text())
        except (OSError, ValueError):
            pass
        found = image_properties(path, self.look)
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_name(f".{file.name}.{uuid.uuid4().hex}")
        partial.write_text(json.dumps(found))
        os.replace(partial, file)
        return found
