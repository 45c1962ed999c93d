"""Files that hold temperatures, each read to a map in degrees Celsius, and the one fixed window
that maps degrees to the network's [0, 1].

A pseudo-colour export loses the absolute scale (and, with most palettes, the linearity): a face
one degree colder looks the same once the export stretches its own range. Radiometric files keep
it: a FLIR radiometric JPEG holds the raw sensor values and the calibration that turns them into
degrees (read with `flyr`), other cameras export 16-bit counts with a linear scale, or float
temperature arrays. One window for every image keeps a colder forehead colder in every image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import flyr
import numpy as np

from thermal_icas.core.errors import ConfigError, DatasetError

# data.format: image (8/16-bit pictures, pseudo-colour or grey), or one of the temperatures
FORMATS = ("image", "flir", "counts", "celsius")
TEMPERATURE_FORMATS = FORMATS[1:]
# 26-38 deg C: below the coolest facial skin at room temperature (the nose tip, the ears, about
# 28-30 deg C), above the warmest (the inner eye corners, about 36-37 deg C), so a face is never
# clipped while a room at 18-25 deg C is
DEFAULT_WINDOW = (26.0, 38.0)
# files a celsius array may come in
CELSIUS_SUFFIXES = (".npy", ".tif", ".tiff")
# above this a "deg C" map is kelvin or raw counts
IMPLAUSIBLE_CELSIUS = 200.0


@dataclass(frozen=True)
class TemperatureWindow:
    """`data.temperature_window`: `low` deg C maps to 0 and `high` to 1, clipped outside."""

    low: float = DEFAULT_WINDOW[0]
    high: float = DEFAULT_WINDOW[1]

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ConfigError(
                f"data.temperature_window=[{self.low}, {self.high}] is not accepted: use "
                "[low, high] in deg C with low < high, e.g. [26, 38]"
            )

    @classmethod
    def of(cls, window: Sequence[float]) -> TemperatureWindow:
        if len(window) != 2:
            raise ConfigError(f"data.temperature_window={list(window)} must be [low, high] deg C")
        return cls(float(window[0]), float(window[1]))

    @property
    def span(self) -> float:
        return self.high - self.low

    def to_unit(self, celsius: np.ndarray) -> np.ndarray:
        return np.clip((celsius - self.low) / self.span, 0.0, 1.0).astype(np.float32)

    def to_celsius(self, unit: np.ndarray | float) -> np.ndarray | float:
        return self.low + unit * self.span


@dataclass(frozen=True)
class TemperatureReader:
    """Reads one file of `format` (flir, counts, celsius) to an HxW float32 map in deg C; a file
    it cannot read raises a DatasetError naming the file and why (the run skips it)."""

    format: str
    counts_to_celsius: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.format not in TEMPERATURE_FORMATS:
            raise ConfigError(
                f"data.format='{self.format}' is not a temperature format: use one of "
                f"{', '.join(TEMPERATURE_FORMATS)}"
            )
        if self.format == "counts" and (
            self.counts_to_celsius is None or len(self.counts_to_celsius) != 2
        ):
            raise ConfigError(
                "data.format=counts needs data.counts_to_celsius=[scale, offset] "
                "(deg C = scale x count + offset; [0.01, -273.15] for centi-kelvin)"
            )

    @classmethod
    def of(cls, format: str, counts_to_celsius: Sequence[float] | None) -> TemperatureReader:
        """From the config's values (a list for the scale)."""
        scale = None if counts_to_celsius is None else tuple(map(float, counts_to_celsius))
        return cls(format, scale)

    def __call__(self, path: str | Path) -> np.ndarray:
        read = {"flir": _flir, "counts": self._counts, "celsius": _celsius}[self.format]
        celsius = read(Path(path))
        if celsius.ndim != 2 or celsius.size == 0:
            raise DatasetError(f"'{path}' holds an array of shape {celsius.shape}, not a 2-D map")
        finite = np.isfinite(celsius)
        if not finite.all():
            raise DatasetError(f"'{path}' holds {int((~finite).sum())} non-finite temperatures")
        if float(np.max(np.abs(celsius))) > IMPLAUSIBLE_CELSIUS:
            raise DatasetError(
                f"'{path}' reads up to {float(celsius.max()):.1f} deg C: kelvin or raw counts? "
                "(see data.format and data.counts_to_celsius)"
            )
        return celsius.astype(np.float32)

    def _counts(self, path: Path) -> np.ndarray:
        counts = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if counts is None:
            raise DatasetError(f"cannot read counts image '{path}' (not a PNG or TIFF?)")
        if counts.ndim != 2 or not np.issubdtype(counts.dtype, np.integer):
            raise DatasetError(
                f"'{path}' is a {counts.dtype} image with shape {counts.shape}: data.format=counts "
                "reads one channel of integer counts (16-bit PNG or TIFF)"
            )
        assert self.counts_to_celsius is not None
        scale, offset = self.counts_to_celsius
        return counts.astype(np.float64) * float(scale) + float(offset)


def _flir(path: Path) -> np.ndarray:
    """The deg C map of a FLIR radiometric JPEG, computed by `flyr` from the raw values and the
    calibration the camera stored in the file."""
    try:
        return np.asarray(flyr.unpack(str(path)).celsius, dtype=np.float64)
    except Exception as error:  # flyr raises bare ValueErrors and others on layouts it refuses
        raise DatasetError(
            f"'{path}' is not a FLIR radiometric JPEG that flyr can read ({error})"
        ) from error


def _celsius(path: Path) -> np.ndarray:
    """A float array in deg C, from a `.npy` file or a float TIFF."""
    suffix = path.suffix.lower()
    if suffix not in CELSIUS_SUFFIXES:
        raise DatasetError(
            f"'{path}': data.format=celsius reads {', '.join(CELSIUS_SUFFIXES)} files"
        )
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as error:
            raise DatasetError(f"cannot read '{path}' as a numpy array ({error})") from error
    else:
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if array is None:
            raise DatasetError(f"cannot read TIFF '{path}'")
    if not np.issubdtype(array.dtype, np.floating):
        raise DatasetError(
            f"'{path}' holds {array.dtype} values: data.format=celsius reads float deg C "
            "(integer counts: data.format=counts)"
        )
    return np.asarray(array, dtype=np.float64)
