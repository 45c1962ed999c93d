"""The acquisition audit: a model that predicts the label from how the images were captured
fires when the classes come from different cameras or exports, and not on one capture."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pytest
from PIL import Image

from tests.conftest import make_toy_dataset, thermal_data
from thermal_icas import cli
from thermal_icas.core import run_files
from thermal_icas.core.data.acquisition import CATEGORICAL, NUMERIC, image_properties, jpeg_quality
from thermal_icas.core.data.confound import audit
from thermal_icas.core.errors import ConfigError, DatasetError


def _render(root: Path, name: str, how: str) -> None:
    """Re-save one class folder's images: `inferno` through that palette, `320x240` resized."""
    for path in sorted((root / name).glob("*.png")):
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if how == "inferno":
            rgb = matplotlib.colormaps["inferno"](grey / 255.0)[..., :3]
            Image.fromarray(np.rint(rgb * 255).astype(np.uint8)).save(path)
        else:
            width, height = map(int, how.split("x"))
            resized = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA)
            Image.fromarray(np.repeat(resized[..., None], 3, 2)).save(path)


@pytest.mark.parametrize(
    ("positive", "negative", "telling"),
    [("none", "inferno", "palette="), ("320x240", "512x512", "width")],
)
def test_classes_captured_differently_raise_the_alarm(
    tmp_path: Path,
    positive: str,
    negative: str,
    telling: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 12, "non_icas": 24}, size=64)
    if positive != "none":
        _render(root, "icas", positive)
    _render(root, "non_icas", negative)
    data = thermal_data(tmp_path, data_dir=str(root))
    with caplog.at_level(logging.WARNING):
        data.setup()
    assert data.acquisition is not None and data.acquisition.alarm
    assert any(d.name.startswith(telling) for d in data.acquisition.differences[:3])
    assert "ACQUISITION ALARM" in caplog.text
    metrics = data.mask_summary()
    assert metrics["data/acquisition_auroc_ci_low"] > 0.6
    data.write_splits(tmp_path / "run")
    with (tmp_path / "run" / run_files.ACQUISITION).open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["property"] == data.acquisition.differences[0].name
    assert set(rows[0]) == {"property", "auroc", "mean_non_icas", "mean_icas"}

    with pytest.raises(DatasetError, match=r"ACQUISITION ALARM.*data\.on_confound=error"):
        thermal_data(tmp_path, data_dir=str(root), on_confound="error").setup()
    # the audit script says it too, and fails
    assert cli.main(["audit", str(root), "--cache-dir", str(tmp_path / "cache")]) == 1
    assert "ACQUISITION ALARM" in capsys.readouterr().err


def test_one_capture_for_both_classes_is_quiet(tmp_path: Path) -> None:
    # both classes through one camera whose JPEG quality wanders: the properties vary, but
    # not with the label (the classes differ in face temperature, which is the signal)
    root = make_toy_dataset(tmp_path / "d", {"icas": 12, "non_icas": 24}, size=64)
    rng = np.random.default_rng(0)
    for path in sorted(root.rglob("*.png")):
        Image.open(path).save(path.with_suffix(".jpg"), quality=int(rng.choice([60, 75, 90])))
        path.unlink()
    data = thermal_data(tmp_path, data_dir=str(root), on_confound="error")
    data.setup()
    assert data.acquisition is not None and not data.acquisition.alarm
    assert "jpeg_quality" in {d.name for d in data.acquisition.differences}
    assert data.acquisition.interval[0] < 0.5 < data.acquisition.interval[1]


def test_the_embedded_data_is_quiet(tmp_path: Path) -> None:
    data = thermal_data(tmp_path, on_confound="error")
    data.setup()
    assert data.acquisition is not None and not data.acquisition.alarm


def test_properties_read_the_file_not_its_name(tmp_path: Path) -> None:
    rgb = np.full((240, 320, 3), 25, np.uint8)  # a grey wall behind the face
    rgb[70:170, 110:210] = 180
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=80)
    Image.fromarray(rgb).save(tmp_path / "b.jpg", format="PNG")
    jpeg, png = image_properties(tmp_path / "a.jpg"), image_properties(tmp_path / "b.jpg")
    assert (jpeg["width"], jpeg["height"], jpeg["format"]) == (320.0, 240.0, "JPEG")
    assert abs(float(jpeg["jpeg_quality"]) - 80) < 1.5 and np.isnan(png["jpeg_quality"])
    assert png["format"] == "PNG" and png["palette"] == "gray" and png["camera"] == ""
    assert abs(float(png["face_share"]) - 100 * 100 / (240 * 320)) < 0.01
    assert png["background_level"] == pytest.approx(25 / 255, abs=1e-6)
    assert png["background_noise"] == pytest.approx(0, abs=1e-6)
    assert jpeg_quality(64) > 99


def test_a_cohort_with_nothing_that_varies_gets_no_verdict() -> None:
    one = {name: 1.0 for name in NUMERIC} | {name: "x" for name in CATEGORICAL}
    result = audit([one] * 8, [f"P{i}" for i in range(8)], [0, 1] * 4, seed=0)
    assert np.isnan(result.auroc) and not result.alarm and result.differences == ()


def test_an_unknown_setting_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.on_confound='ignore'"):
        thermal_data(tmp_path, on_confound="ignore")
