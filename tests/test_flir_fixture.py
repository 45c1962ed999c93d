"""The test-made FLIR JPEG reads back through flyr as the temperatures the FLIR formula gives."""

from __future__ import annotations

import struct
from pathlib import Path

import flyr
import numpy as np
import pytest

from tests.flir_fixture import FlirCalibration, expected_celsius, raw_for_celsius, write_flir_jpeg

TOLERANCE = 0.01  # deg C
DEFAULT = FlirCalibration()
# every term of the formula at work: a duller surface, farther, in damper air behind a window
HUMID_FAR = FlirCalibration(
    emissivity=0.8,
    object_distance=3.0,
    reflected_temperature=10.0,
    atmospheric_temperature=25.0,
    window_temperature=22.0,
    window_transmission=0.9,
    relative_humidity=0.8,
)


def gradient(shape: tuple[int, int], calibration: FlirCalibration) -> np.ndarray:
    """Counts for 20 deg C at the left edge rising to 40 deg C at the right."""
    celsius = np.broadcast_to(np.linspace(20.0, 40.0, shape[1]), shape)
    return raw_for_celsius(celsius, calibration)


def read_celsius(path: Path) -> np.ndarray:
    """The reader under test; flyr takes a str path (or a binary stream), not a Path."""
    return flyr.unpack(str(path)).celsius


def flir_segments(path: Path) -> list[bytes]:
    """The payloads of the file's APP1 "FLIR" segments, walking the JPEG markers up to the scan."""
    data, position, segments = path.read_bytes(), 2, []
    while data[position + 1] != 0xDA:  # start of scan: entropy-coded data follows
        marker, length = struct.unpack_from(">2sH", data, position)
        payload = data[position + 4 : position + 2 + length]
        if marker == b"\xff\xe1" and payload.startswith(b"FLIR\0"):
            segments.append(payload)
        position += 2 + length
    return segments


@pytest.mark.parametrize("calibration", [DEFAULT, HUMID_FAR], ids=["default", "humid-far"])
def test_flyr_reads_expected_celsius(tmp_path: Path, calibration: FlirCalibration) -> None:
    raw = gradient((24, 32), calibration)
    path = tmp_path / "thermogram.jpg"
    write_flir_jpeg(path, raw, calibration)

    celsius = read_celsius(path)

    expected = expected_celsius(raw, calibration)
    assert celsius.shape == (24, 32)
    np.testing.assert_allclose(celsius, expected, rtol=0, atol=TOLERANCE)
    assert expected.min() == pytest.approx(20.0, abs=TOLERANCE)
    assert expected.max() == pytest.approx(40.0, abs=TOLERANCE)


def test_conditions_change_the_reading(tmp_path: Path) -> None:
    """The same counts read differently under other conditions, so the check covers them."""
    raw = gradient((24, 32), DEFAULT)
    path = tmp_path / "thermogram.jpg"
    write_flir_jpeg(path, raw, HUMID_FAR)

    difference = read_celsius(path) - expected_celsius(raw, DEFAULT)
    assert np.abs(difference).min() > 1.0
    np.testing.assert_allclose(read_celsius(path), expected_celsius(raw, HUMID_FAR), atol=TOLERANCE)


@pytest.mark.parametrize("calibration", [DEFAULT, HUMID_FAR], ids=["default", "humid-far"])
def test_raw_for_celsius_round_trips(calibration: FlirCalibration) -> None:
    # a face at 34 deg C on a 22 deg C background, and a sweep from -10 to 60 deg C
    face = np.full((24, 32), 22.0)
    face[6:18, 10:22] = 34.0
    sweep = np.linspace(-10.0, 60.0, 701)
    for celsius in (face, sweep):
        raw = raw_for_celsius(celsius, calibration)
        assert raw.dtype == np.uint16
        assert raw.shape == celsius.shape
        np.testing.assert_allclose(expected_celsius(raw, calibration), celsius, atol=TOLERANCE)


def test_raw_for_celsius_refuses_counts_out_of_range() -> None:
    with pytest.raises(ValueError, match="uint16"):
        raw_for_celsius(np.array([500.0]), DEFAULT)


def test_large_file_spans_several_segments(tmp_path: Path) -> None:
    raw = gradient((240, 320), HUMID_FAR)
    path = tmp_path / "thermogram.jpg"
    write_flir_jpeg(path, raw, HUMID_FAR)

    segments = flir_segments(path)
    assert len(segments) == 3  # 153 600 bytes of counts need three segments
    assert all(len(segment) <= 65533 for segment in segments)
    assert [(segment[6], segment[7]) for segment in segments] == [(0, 2), (1, 2), (2, 2)]
    celsius = read_celsius(path)
    assert celsius.shape == (240, 320)
    np.testing.assert_allclose(celsius, expected_celsius(raw, HUMID_FAR), rtol=0, atol=TOLERANCE)
