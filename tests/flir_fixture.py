"""A minimal FLIR radiometric JPEG written by the tests, to check a reader without downloads.

As cameras write it (and ExifTool documents it): APP1 "FLIR" segments carry an "FFF" container, a
big-endian header and record directory pointing to the RawData record (the sensor counts) and the
CameraInfo record (the calibration, little-endian)."""

from __future__ import annotations

import io
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

KELVIN = 273.15
RAW_DATA, CAMERA_INFO = 1, 32  # record types
LITTLE_ENDIAN_COUNTS = 2  # the RawData subtype (1 big-endian, 3 a PNG)
HEADER_SIZE, ENTRY_SIZE, CAMERA_INFO_SIZE = 64, 32, 1024
# unused entries stay zeroed, as on cameras: a reader counting entries from the container's start
# (not the directory's) still reaches the used ones
DIRECTORY_ENTRIES = 8
# an APP1 segment filled as cameras do (length field 0xFFFE), less its "FLIR\0", version byte,
# segment index and last index
SEGMENT_DATA = 65532 - 8


@dataclass(frozen=True)
class FlirCalibration:
    """What a FLIR camera stores to turn its counts into temperatures; the defaults are close to
    a handheld camera's. Temperatures in deg C, written as float32 kelvin: keep them to 0.01 K,
    as readers may round them there. Humidity as a fraction."""

    planck_r1: float = 17096.453
    planck_b: float = 1428.0
    planck_f: float = 1.0
    planck_o: int = -307
    planck_r2: float = 0.0125
    emissivity: float = 0.95
    object_distance: float = 1.0
    reflected_temperature: float = 20.0
    atmospheric_temperature: float = 20.0
    window_temperature: float = 20.0
    window_transmission: float = 1.0
    relative_humidity: float = 0.5
    alpha1: float = 0.006569
    alpha2: float = 0.01262
    beta1: float = -0.002276
    beta2: float = -0.00667
    x: float = 1.9


def _black_body_counts(celsius: np.ndarray | float, c: FlirCalibration) -> np.ndarray:
    """The counts a black body at this temperature gives (Planck's law as calibrated)."""
    kelvin = np.asarray(celsius, dtype=np.float64) + KELVIN
    return c.planck_r1 / (c.planck_r2 * (np.exp(c.planck_b / kelvin) - c.planck_f)) - c.planck_o


def _air_transmission(c: FlirCalibration) -> float:
    """Transmission of each half of the air path: the model puts the window halfway."""
    t = c.atmospheric_temperature
    water = c.relative_humidity * math.exp(
        1.5587 + 0.06939 * t - 0.00027816 * t**2 + 0.00000068455 * t**3
    )
    alpha, beta = np.array([c.alpha1, c.alpha2]), np.array([c.beta1, c.beta2])
    band = np.exp(-math.sqrt(c.object_distance / 2) * (alpha + beta * math.sqrt(water)))
    return float(c.x * band[0] + (1 - c.x) * band[1])


def _signal_model(c: FlirCalibration) -> tuple[float, float]:
    """Gain and offset of the camera's counts in the object's own. From the object to the sensor
    each layer passes a share and adds its glow: the surface (reflecting the surroundings), air,
    window (non-reflecting), air. Forward, so the check does not repeat a reader's algebra."""
    air = _air_transmission(c)
    air_glow = float(_black_body_counts(c.atmospheric_temperature, c))
    window_glow = float(_black_body_counts(c.window_temperature, c))
    gain = c.emissivity
    offset = (1 - c.emissivity) * float(_black_body_counts(c.reflected_temperature, c))
    for share, glow in ((air, air_glow), (c.window_transmission, window_glow), (air, air_glow)):
        gain, offset = gain * share, offset * share + (1 - share) * glow
    return gain, offset


def expected_celsius(raw: np.ndarray, calibration: FlirCalibration) -> np.ndarray:
    """The deg C the published FLIR formula gives for these counts, to test a reader against."""
    c = calibration
    gain, offset = _signal_model(c)
    signal = (np.asarray(raw, dtype=np.float64) - offset) / gain
    ratio = c.planck_r1 / (c.planck_r2 * (signal + c.planck_o)) + c.planck_f
    return c.planck_b / np.log(ratio) - KELVIN


def raw_for_celsius(celsius: np.ndarray, calibration: FlirCalibration) -> np.ndarray:
    """The uint16 counts that give this temperature map, to plant known temperatures."""
    gain, offset = _signal_model(calibration)
    raw = np.rint(gain * _black_body_counts(celsius, calibration) + offset)
    if raw.min() < 0 or raw.max() > np.iinfo(np.uint16).max:
        raise ValueError("temperatures out of the camera's uint16 range")
    return raw.astype(np.uint16)


def _camera_info_record(c: FlirCalibration) -> bytes:
    """The calibration at the CameraInfo offsets, temperatures in kelvin."""
    record = bytearray(CAMERA_INFO_SIZE)
    struct.pack_into("<H", record, 0x00, 2)  # byte-order check
    temperatures = (c.reflected_temperature, c.atmospheric_temperature, c.window_temperature)
    kelvin = [t + KELVIN for t in temperatures]
    struct.pack_into("<2f", record, 0x20, c.emissivity, c.object_distance)
    struct.pack_into("<4f", record, 0x28, *kelvin, c.window_transmission)
    struct.pack_into("<f", record, 0x3C, c.relative_humidity)
    struct.pack_into("<3f", record, 0x58, c.planck_r1, c.planck_b, c.planck_f)
    struct.pack_into("<5f", record, 0x70, c.alpha1, c.alpha2, c.beta1, c.beta2, c.x)
    struct.pack_into("<if", record, 0x308, c.planck_o, c.planck_r2)
    return bytes(record)


def _fff_container(records: list[tuple[int, int, bytes]]) -> bytes:
    """Header, record directory, then the (type, subtype, data) records back to back."""
    directory = bytearray(DIRECTORY_ENTRIES * ENTRY_SIZE)
    body = b""
    for i, (kind, subtype, data) in enumerate(records):
        offset = HEADER_SIZE + len(directory) + len(body)
        struct.pack_into(
            ">2H4I", directory, i * ENTRY_SIZE, kind, subtype, 100, 1, offset, len(data)
        )
        body += data
    header = struct.pack(">4s16s4I", b"FFF\0", b"", 100, HEADER_SIZE, DIRECTORY_ENTRIES, 2)
    return header.ljust(HEADER_SIZE, b"\0") + bytes(directory) + body


def _flir_segments(container: bytes) -> bytes:
    """The container cut into numbered APP1 "FLIR" segments, as cameras split it."""
    starts = range(0, len(container), SEGMENT_DATA)
    chunks = [container[i : i + SEGMENT_DATA] for i in starts]
    last = len(chunks) - 1
    if last > 255:
        raise ValueError("too much data for 256 APP1 segments")
    payloads = [b"FLIR\0\x01" + bytes([index, last]) + chunk for index, chunk in enumerate(chunks)]
    return b"".join(b"\xff\xe1" + struct.pack(">H", len(p) + 2) + p for p in payloads)


def write_flir_jpeg(path: str | Path, raw: np.ndarray, calibration: FlirCalibration) -> None:
    """Write a JPEG (a flat grey picture) carrying the counts and the calibration."""
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise ValueError("raw must be a 2-D uint16 array")
    height, width = raw.shape
    # RawData: a byte-order check (2), width, height, then the counts from offset 32
    raw_data = struct.pack("<3H", 2, width, height).ljust(32, b"\0") + raw.astype("<u2").tobytes()
    visible = io.BytesIO()
    Image.new("L", (width, height), 128).save(visible, format="JPEG")
    jpeg = visible.getvalue()
    # after SOI and the JFIF APP0 segment, where cameras put their APP1 segments
    cut = 4 + int.from_bytes(jpeg[4:6], "big") if jpeg[2:4] == b"\xff\xe0" else 2
    camera_info = _camera_info_record(calibration)
    records = [(RAW_DATA, LITTLE_ENDIAN_COUNTS, raw_data), (CAMERA_INFO, 1, camera_info)]
    segments = _flir_segments(_fff_container(records))
    Path(path).write_bytes(jpeg[:cut] + segments + jpeg[cut:])
