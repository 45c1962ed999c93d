"""How a run reads one file into the picture its masks, alignment and network see: an HxWx3
float32 image in [0, 1]. Pictures are decoded as they are (`data.format=image`), optionally
turned back from a palette into relative temperature; temperatures (`flir`, `counts`,
`celsius`) are read in deg C and put through the run's fixed window, one channel repeated."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from thermal_icas.core.data.imageio import load_rgb
from thermal_icas.core.data.palette import PaletteInverter
from thermal_icas.core.data.temperature import (
    DEFAULT_WINDOW,
    FORMATS,
    TemperatureReader,
    TemperatureWindow,
)
from thermal_icas.core.errors import ConfigError, DatasetError


class Reading:
    """`data.format`, `data.temperature_window`, `data.counts_to_celsius` and `data.palette`.

    `__call__` gives the picture and the share of its pixels far from every palette colour
    (0 without a palette); `celsius` the deg C map of a temperature file, unwindowed."""

    def __init__(
        self,
        format: str = "image",
        temperature_window: Sequence[float] = DEFAULT_WINDOW,
        counts_to_celsius: Sequence[float] | None = None,
        palette: str = "none",
        palette_max_distance: float = 10.0,
    ) -> None:
        if format not in FORMATS:
            raise ConfigError(f"data.format='{format}' must be one of {', '.join(FORMATS)}")
        self.format = format
        self.temperature = format != "image"
        self.window = TemperatureWindow.of(temperature_window)
        self.reader = TemperatureReader.of(format, counts_to_celsius) if self.temperature else None
        if self.temperature and palette != "none":
            raise ConfigError(
                f"data.palette='{palette}' turns pseudo-colour pictures into relative "
                f"temperature; data.format={format} reads temperatures: set data.palette=none"
            )
        self.palette = None if palette == "none" else PaletteInverter(palette, palette_max_distance)

    def key(self) -> str:
        """What, beside a file's bytes, decides its picture (for caches keyed by file content);
        empty for pictures as given, so caches written before this setting existed still hit."""
        if self.reader is not None:
            scale = self.reader.counts_to_celsius
            return f"{self.format}:{self.window.low:g}-{self.window.high:g}:{scale}"
        return "" if self.palette is None else f"palette:{self.palette.palette}"

    def __call__(self, path: str | Path) -> tuple[np.ndarray, float]:
        fault = _jpeg_fault(path)
        if fault is not None:
            raise DatasetError(f"'{path}' is a truncated or corrupt JPEG ({fault})")
        if self.reader is not None:
            unit = self.window.to_unit(self.celsius(path))
            if float(unit.max()) == 0.0:
                raise DatasetError(
                    f"'{path}' holds nothing warmer than {self.window.low:g} deg C, the low end "
                    "of data.temperature_window"
                )
            return np.repeat(unit[..., None], 3, axis=2), 0.0
        image = load_rgb(path)
        if float(image.max()) == 0.0:
            raise DatasetError(f"'{path}' is all black (no thermal signal)")
        if self.palette is None:
            return image, 0.0
        temperature, far = self.palette(image)
        return np.repeat(temperature[..., None], 3, axis=2), far

    def appearance(self, path: str | Path) -> np.ndarray:
        """The file as it looks, for the duplicate hashes and the acquisition audit: a picture
        as decoded (before any palette, whose fit the audit measures), temperatures in their
        window."""
        return self(path)[0] if self.temperature else load_rgb(path)

    def appearance_key(self) -> str:
        """What, beside a file's bytes, decides its appearance (for caches keyed by content)."""
        return self.key() if self.temperature else ""

    def celsius(self, path: str | Path) -> np.ndarray:
        if self.reader is None:
            raise ConfigError("data.format=image holds no temperatures")
        return self.reader(path)


def _jpeg_fault(path: str | Path) -> str | None:
    """Why a JPEG (by its content, whatever the file's name) does not decode to its end, or None.

    OpenCV decodes a truncated JPEG with the missing rows grey and no error; Pillow's decoder
    raises on one, and ignores an EXIF thumbnail's end marker and bytes after the image's end
    (a camera's trailer, a FLIR file's radiometric segments). What Pillow does not take for a
    JPEG is left to the reader to judge.
    """
    try:
        with Image.open(path, formats=["JPEG"]) as image:
            # decoding at 1/8 scale still reads the whole scan, at a third of the cost
            image.draft(None, (1, 1))
            image.load()
    except UnidentifiedImageError:
        return None
    except OSError as error:
        return str(error)
    return None
