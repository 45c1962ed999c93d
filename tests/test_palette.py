"""Pseudo-colour images back to relative temperature (`data.palette`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ComposeFn
from thermal_icas.core.data.palette import PaletteInverter, load_palette
from thermal_icas.core.data.preprocess import OFF_PALETTE_WARNING
from thermal_icas.core.errors import ConfigError
from thermal_icas.train.pipeline import run


def _painted(palette: str, values: np.ndarray) -> np.ndarray:
    """values in [0, 1] through the palette as an 8-bit image would store them."""
    colours = np.rint(load_palette(palette) * 255).astype(np.uint8)
    return colours[np.rint(values * 255).astype(int)].astype(np.float32) / 255


def test_a_palette_is_a_colormap_name_or_a_lut_file(tmp_path: Path) -> None:
    lut = tmp_path / "iron.txt"
    lut.write_text("0 0 0\n128 0 64\n255 255 255\n")
    np.testing.assert_allclose(load_palette(str(lut))[1], [128 / 255, 0, 64 / 255], atol=1e-6)
    assert load_palette("inferno").shape == (256, 3)
    with pytest.raises(ConfigError, match=r"data\.palette='ironbow'.*matplotlib colormap"):
        load_palette("ironbow")
    (tmp_path / "bad.txt").write_text("0 0\n1 1\n")
    with pytest.raises(ConfigError, match="rows of 3 numbers"):
        load_palette(str(tmp_path / "bad.txt"))


@pytest.mark.slow
def test_an_inferno_ramp_comes_back_and_a_wrong_palette_is_flagged() -> None:
    ramp = np.tile(np.arange(256, dtype=np.float32) / 255, (8, 1))
    painted = _painted("inferno", ramp)
    values, off_palette = PaletteInverter("inferno")(painted)
    assert np.abs(values - ramp).max() <= 1 / 255 + 1e-6
    assert off_palette == 0.0
    _, wrong = PaletteInverter("jet")(painted)
    assert wrong > 0.5


@pytest.mark.slow
def test_a_run_on_relative_temperature(compose_cfg: ComposeFn) -> None:
    # the embedded faces are rendered through inferno
    cfg = compose_cfg(["experiment=smoke", "model.pretrained=none", "data.palette=inferno"])
    metrics = run(cfg)
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert saved["data/off_palette_share"] == pytest.approx(metrics["data/off_palette_share"])
    assert metrics["data/off_palette_share"] < OFF_PALETTE_WARNING
    assert 0.0 <= metrics["test/auroc"] <= 1.0
