"""Pseudo-colour back to relative temperature.

Cameras export thermal frames through a palette (inferno, iron, rainbow, ...), where a colour
difference is not a temperature difference: jet's blue-to-cyan step spans as many degrees as
its yellow-to-red one but far more RGB distance. Each pixel is mapped back to its position on
the palette, the nearest palette colour in CIELAB (a perceptual space), giving one channel of
relative temperature in [0, 1]. Pixels far from every palette colour are counted: many of
them mean the wrong palette was named.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import matplotlib
import numpy as np

from thermal_icas.core.errors import ConfigError

# colours of a palette sampled from a matplotlib colormap
PALETTE_SIZE = 256
# the coarse lookup quantises each RGB channel to this many bits; the nearest colour is then
# refined among the palette positions within WINDOW of the coarse answer
COARSE_BITS = 6
WINDOW = 4


def load_palette(palette: str) -> np.ndarray:
    """(N, 3) float32 RGB in [0, 1], coldest first: a matplotlib colormap's name, or a text
    file of N rows `r g b` (0-255, or 0-1; commas or spaces)."""
    path = Path(palette).expanduser()
    if path.is_file():
        try:
            colours = np.loadtxt(path, delimiter=None, ndmin=2, converters=None)
        except ValueError:
            colours = np.loadtxt(path, delimiter=",", ndmin=2)
        if colours.shape[1] != 3 or len(colours) < 2:
            raise ConfigError(f"data.palette='{palette}': a LUT file needs rows of 3 numbers")
        scale = 255.0 if colours.max() > 1.0 else 1.0
        return (colours / scale).astype(np.float32)
    if palette not in matplotlib.colormaps:
        raise ConfigError(
            f"data.palette='{palette}' is neither a LUT file nor a matplotlib colormap "
            "(e.g. inferno, jet, turbo); use none for pixels as given"
        )
    positions = np.linspace(0.0, 1.0, PALETTE_SIZE)
    return matplotlib.colormaps[palette](positions)[:, :3].astype(np.float32)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """An (H, W, 3) RGB image in [0, 1] in CIELAB, where distances are perceptual."""
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2LAB)


@lru_cache(maxsize=8)
def palette_lab(palette: str) -> np.ndarray:
    """(N, 3) CIELAB colours of a palette, coldest first."""
    return to_lab(load_palette(palette)[None])[0]


class PaletteInverter:
    """Maps (H, W, 3) RGB in [0, 1] (decoded 8-bit images) to (H, W) palette positions in
    [0, 1], by one lookup in a table over all 2^24 colours, built once per palette and process
    (a few seconds): a coarse table over the colour cube quantised to COARSE_BITS per channel
    gives each colour a first position, refined among the positions within WINDOW of it, so
    colours on the palette come back exactly."""

    def __init__(self, palette: str, max_distance: float = 10.0) -> None:
        self.palette = palette
        self.max_distance = max_distance
        self.positions, self.distances = _colour_table(palette)
        self.scale = float(len(load_palette(palette)) - 1)

    def __call__(self, rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """The positions and the share of pixels farther than `max_distance` (CIELAB delta E)
        from every palette colour."""
        codes = _codes(np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.int64), 8)
        far = float((self.distances[codes] > self.max_distance).mean())
        return (self.positions[codes] / self.scale).astype(np.float32), far


def _codes(cells: np.ndarray, bits: int) -> np.ndarray:
    return (cells[..., 0] << (2 * bits)) | (cells[..., 1] << bits) | cells[..., 2]


def _nearest(lab: np.ndarray, colours: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, ...]:
    """The nearest palette position (and its distance) among those within WINDOW of `first`."""
    offsets = np.arange(-WINDOW, WINDOW + 1)[:, None]
    candidates = np.clip(first[None] + offsets, 0, len(colours) - 1)
    distance = ((lab[None] - colours[candidates]) ** 2).sum(-1)
    choice = distance.argmin(0)[None]
    position = np.take_along_axis(candidates, choice, 0)[0]
    return position, np.sqrt(np.take_along_axis(distance, choice, 0)[0])


@lru_cache(maxsize=4)
def _colour_table(palette: str) -> tuple[np.ndarray, np.ndarray]:
    """For each of the 2^24 colours, its nearest palette position and the distance to it."""
    colours = palette_lab(palette)
    coarse = _coarse_lookup(colours)
    positions = np.empty(1 << 24, np.uint16)
    distances = np.empty(1 << 24, np.float16)
    block = 1 << 18
    for start in range(0, 1 << 24, block):
        codes = np.arange(start, start + block)
        rgb = np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], -1)
        cells = np.rint(rgb * (((1 << COARSE_BITS) - 1) / 255.0)).astype(np.int64)
        first = coarse[_codes(cells, COARSE_BITS)]
        lab = to_lab((rgb / 255.0)[None])[0]
        positions[start : start + block], distance = _nearest(lab, colours, first)
        distances[start : start + block] = distance
    return positions, distances


def _coarse_lookup(colours: np.ndarray) -> np.ndarray:
    """For every cell of the colour cube quantised to COARSE_BITS, the nearest palette
    position (over the whole palette)."""
    levels = np.arange(1 << COARSE_BITS, dtype=np.float32) / ((1 << COARSE_BITS) - 1)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(1, -1, 3)
    cells = to_lab(cube)[0]
    nearest = np.empty(len(cells), np.int64)
    for start in range(0, len(cells), 16384):
        chunk = cells[start : start + 16384]
        nearest[start : start + 16384] = ((chunk[:, None] - colours[None]) ** 2).sum(-1).argmin(1)
    return nearest
