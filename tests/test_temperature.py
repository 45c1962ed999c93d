"""Temperatures in: each format reads to the expected deg C, one window maps them to [0, 1], the
mask, the augmentation and the embedded radiometric twin keep the scale."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.conftest import ComposeFn, thermal_data
from tests.flir_fixture import FlirCalibration, expected_celsius, raw_for_celsius, write_flir_jpeg
from thermal_icas.analysis.export import preprocess_spec
from thermal_icas.analysis.inference import predict
from thermal_icas.analysis.trained_run import load_run
from thermal_icas.core import run_files
from thermal_icas.core.data.reading import Reading
from thermal_icas.core.data.synthetic import SyntheticSpec, generate_dataset
from thermal_icas.core.data.temperature import TemperatureReader, TemperatureWindow
from thermal_icas.core.data.transforms import AugmentConfig
from thermal_icas.core.errors import ConfigError, DatasetError
from thermal_icas.core.masks import ContentBasedMask
from thermal_icas.train.pipeline import run

CENTI_KELVIN = (0.01, -273.15)


def face_scene(shape: tuple[int, int] = (96, 80)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A room at 22 deg C, a face at 33-35 deg C (a cooler nose), and a radiator at 45 deg C in
    a corner, clear of the face: (deg C map, face, radiator)."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    face = ((yy - 0.55 * h) / (0.36 * h)) ** 2 + ((xx - 0.55 * w) / (0.3 * w)) ** 2 < 1
    radiator = (yy < 0.2 * h) & (xx < 0.2 * w)
    celsius = np.full(shape, 22.0) + np.random.default_rng(0).normal(0, 0.05, shape)
    celsius[face] = 34.0 + np.sin(xx[face] / 7.0)
    celsius[face & (np.abs(yy - 0.6 * h) < 4) & (np.abs(xx - 0.55 * w) < 3)] = 30.5
    celsius[radiator] = 45.0
    return celsius, face, radiator


def test_a_window_maps_its_ends_to_0_and_1_and_clips_outside() -> None:
    window = TemperatureWindow(26.0, 38.0)
    unit = window.to_unit(np.array([20.0, 26.0, 32.0, 38.0, 41.0]))
    assert unit.tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0])
    assert window.to_celsius(0.25) == pytest.approx(29.0)
    with pytest.raises(ConfigError, match=r"temperature_window=\[38.0, 26.0\]"):
        TemperatureWindow(38.0, 26.0)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16_bit_counts_read_as_their_scale_says(tmp_path: Path, suffix: str) -> None:
    celsius, _, _ = face_scene()
    counts = np.rint((celsius + 273.15) * 100).astype(np.uint16)
    path = tmp_path / f"counts{suffix}"
    assert cv2.imwrite(str(path), counts)
    read = TemperatureReader("counts", CENTI_KELVIN)(path)
    assert read.shape == celsius.shape
    assert np.abs(read - celsius).max() <= 0.005 + 1e-4  # the counts' own rounding


def test_float_arrays_read_as_deg_c_from_npy_and_tiff(tmp_path: Path) -> None:
    celsius, _, _ = face_scene()
    np.save(tmp_path / "map.npy", celsius)
    assert cv2.imwrite(str(tmp_path / "map.tif"), celsius.astype(np.float32))
    reader = TemperatureReader("celsius")
    for name in ("map.npy", "map.tif"):
        assert np.abs(reader(tmp_path / name) - celsius).max() < 1e-4


@pytest.mark.parametrize("calibration", [FlirCalibration(), FlirCalibration(emissivity=0.9)])
def test_a_flir_radiometric_jpeg_reads_within_a_hundredth_of_a_degree(
    tmp_path: Path, calibration: FlirCalibration
) -> None:
    celsius, _, _ = face_scene((120, 160))
    raw = raw_for_celsius(celsius, calibration)
    write_flir_jpeg(tmp_path / "face.jpg", raw, calibration)
    read = TemperatureReader("flir")(tmp_path / "face.jpg")
    assert read.shape == celsius.shape
    assert np.abs(read - expected_celsius(raw, calibration)).max() <= 0.01
    assert np.abs(read - celsius).max() <= 0.01  # the planted scene, through the counts


def test_files_a_format_cannot_read_are_refused_with_the_file_and_the_reason(
    tmp_path: Path,
) -> None:
    np.save(tmp_path / "kelvin.npy", np.full((8, 8), 305.0))
    np.save(tmp_path / "ints.npy", np.full((8, 8), 30, np.int32))
    np.save(tmp_path / "holes.npy", np.array([[30.0, np.nan], [31.0, 32.0]]))
    cv2.imwrite(str(tmp_path / "plain.jpg"), np.full((8, 8, 3), 90, np.uint8))
    celsius = TemperatureReader("celsius")
    with pytest.raises(DatasetError, match=r"kelvin\.npy' reads up to 305.0 deg C: kelvin"):
        celsius(tmp_path / "kelvin.npy")
    with pytest.raises(DatasetError, match=r"ints\.npy' holds int32.*data.format=counts"):
        celsius(tmp_path / "ints.npy")
    with pytest.raises(DatasetError, match=r"holes\.npy' holds 1 non-finite"):
        celsius(tmp_path / "holes.npy")
    with pytest.raises(DatasetError, match=r"plain\.jpg' is not a FLIR radiometric JPEG"):
        TemperatureReader("flir")(tmp_path / "plain.jpg")
    with pytest.raises(ConfigError, match=r"data.counts_to_celsius=\[scale, offset\]"):
        TemperatureReader("counts")
    with pytest.raises(ConfigError, match=r"data.palette='inferno'.*set data.palette=none"):
        Reading("flir", palette="inferno")
    with pytest.raises(ConfigError, match=r"data.format='kelvin' must be one of"):
        Reading("kelvin")
    np.save(tmp_path / "cold.npy", np.full((8, 8), 21.0))
    with pytest.raises(DatasetError, match=r"cold\.npy' holds nothing warmer than 26"):
        Reading("celsius")(tmp_path / "cold.npy")


def test_the_content_mask_finds_the_face_on_a_deg_c_map_beside_a_warm_object(
    tmp_path: Path,
) -> None:
    celsius, face, radiator = face_scene()
    np.save(tmp_path / "scene.npy", celsius)
    picture, far = Reading("celsius")(tmp_path / "scene.npy")
    assert picture.shape == (*celsius.shape, 3) and far == 0.0
    found = ContentBasedMask().compute(picture)
    assert not found.fallback
    inside = found.mask > 0.5
    assert (inside & face).sum() / (inside | face).sum() > 0.95
    assert not inside[radiator].any()


def test_temperature_runs_augment_by_offsets_in_deg_c_without_contrast(tmp_path: Path) -> None:
    augment = AugmentConfig().for_temperatures(span=12.0)
    assert augment.contrast == 0.0 and augment.offset == pytest.approx(0.5 / 12.0)
    data = thermal_data(
        tmp_path,
        format="celsius",
        temperature_window=[26.0, 38.0],
        synthetic=SyntheticSpec(num_patients=12, height=32, width=32, format="celsius"),
        augment={"contrast": 0.3, "offset_celsius": 1.2},
    )
    assert data.augment.contrast == 0.0 and data.augment.offset == pytest.approx(0.1)


def test_the_embedded_data_must_be_read_as_what_it_holds(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data.format=celsius cannot read the embedded"):
        thermal_data(tmp_path, format="celsius")
    with pytest.raises(ConfigError, match=r"use data.format=celsius"):
        thermal_data(tmp_path, synthetic=SyntheticSpec(num_patients=12, format="celsius"))


def test_the_radiometric_twin_holds_the_same_faces_in_deg_c(tmp_path: Path) -> None:
    grey = SyntheticSpec(num_patients=4, height=48, width=40, palette="gray", signal=1.5)
    generate_dataset(tmp_path / "grey", grey)
    generate_dataset(tmp_path / "twin", replace(grey, format="celsius"))
    pictures = sorted((tmp_path / "grey").rglob("*.jpg"))
    arrays = sorted((tmp_path / "twin").rglob("*.npy"))
    assert [p.stem for p in pictures] == [a.stem for a in arrays] and arrays
    for picture, array in zip(pictures, arrays, strict=True):
        celsius = np.load(array)
        assert celsius.dtype == np.float32
        skin = celsius > 27.0
        assert 30.0 < float(np.median(celsius[skin])) < 36.0
        room = celsius[~skin]
        assert 22.0 <= float(np.median(room)) <= 22.5 and np.mean(room < 23.0) > 0.8
        # the grey faces are the same temperatures on the generator's scale (JPEG aside)
        inside = cv2.erode(skin.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        grey_value = cv2.imread(str(picture), cv2.IMREAD_GRAYSCALE)[inside] / 255.0
        assert np.abs(grey_value - (celsius[inside] - 28.0) / 10.0).mean() < 0.01


def _celsius_toy(root: Path, size: int = 32) -> Path:
    """ICAS faces at 35 deg C, controls at 32, in a 22 deg C room, as .npy arrays."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    face = ((yy - size / 2) / (0.45 * size)) ** 2 + ((xx - size / 2) / (0.35 * size)) ** 2 < 1
    for name, count, skin in (("icas", 12, 35.0), ("non_icas", 24, 32.0)):
        (root / name).mkdir(parents=True)
        for p in range(count):
            for k in range(2):
                celsius = np.full((size, size), 22.0) + rng.normal(0, 0.1, (size, size))
                celsius[face] = skin + rng.normal(0, 0.3, int(face.sum()))
                np.save(root / name / f"{name[0].upper()}{p:03d}_{k}.npy", celsius)
    return root


@pytest.mark.slow
def test_a_run_on_deg_c_arrays_predicts_and_exports_through_its_window(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    data_dir = _celsius_toy(tmp_path / "toy")
    window = "data.temperature_window=[20,40]"
    cfg = compose_cfg(
        ["experiment=smoke", f"data.data_dir={data_dir}", "data.format=celsius", window]
    )
    run(cfg)
    out = Path(cfg.paths.output_dir)
    (out / run_files.CONFIG).parent.mkdir(exist_ok=True)
    OmegaConf.save(cfg, out / run_files.CONFIG)
    trained = load_run(out)
    predicted = {row["path"]: row for row in _csv(predict(trained, data_dir, tmp_path / "pred"))}
    tested = _csv(out / run_files.TEST_PREDICTIONS)
    assert tested and {row["path"] for row in tested} <= set(predicted)
    for row in tested:
        assert float(predicted[row["path"]]["prob_positive"]) == pytest.approx(
            float(row["prob_positive"]), abs=1e-5
        )
    spec = preprocess_spec(trained, trained.preprocessor())
    assert spec["reading"] == {
        "format": "celsius",
        "temperature_window_celsius": [20.0, 40.0],
        "counts_to_celsius": None,
    }
    assert "map [20, 40] deg C to [0, 1]" in spec["steps"][0]


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))
