"""How one synthetic thermal face is drawn: per-patient anatomy and signal, then each image's
pose, clutter, noise and pseudo-colour (see `thermal_icas.core.data.synthetic` for the dataset)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from thermal_icas.core.data.synthetic import SyntheticSpec

PALETTES = {"inferno": cv2.COLORMAP_INFERNO, "jet": cv2.COLORMAP_JET, "gray": None}
# the radiometric twin (format=celsius): the generator's [0, 1] temperature scale in deg C. Skin
# then lies at about 30.5-34.5 deg C (5th-95th percentile), the inner eye corners up to 37, the
# nose tip and ears cooler; the ICAS cooling at signal s is a left-right difference of
# 0.28 s to 0.83 s deg C at its centre (0.4-1.2 at the default 1.5); the background is a room
# at 22-22.5 deg C
CELSIUS_LOW, CELSIUS_SPAN, AMBIENT_CELSIUS = 28.0, 10.0, 22.0

# Full-scale (signal=1) ICAS cooling as a fraction of the temperature range.
BASE_DELTA = 0.055
# Left/right asymmetry every face has; smaller than the ICAS effect so the classes overlap.
NATURAL_ASYMMETRY_SD = 0.015
IMAGE_ASYMMETRY_SD = 0.006
CLUTTER_PROBABILITY = 0.2

# Canonical face landmarks as (u, v, sigma_u, sigma_v, amplitude); u runs from the
# image-left to the image-right edge of the face (-1..1), v from the top of the head to the chin.
FACE_BLOBS: tuple[tuple[float, float, float, float, float], ...] = (
    (-0.17, -0.12, 0.07, 0.06, 0.26),  # inner eye corners: hottest spots on the face
    (0.17, -0.12, 0.07, 0.06, 0.26),
    (-0.36, -0.14, 0.15, 0.09, 0.08),  # periorbital skin
    (0.36, -0.14, 0.15, 0.09, 0.08),
    (-0.34, -0.12, 0.08, 0.04, -0.07),  # eyeballs are cooler than the skin around them
    (0.34, -0.12, 0.08, 0.04, -0.07),
    (0.0, -0.5, 0.45, 0.2, 0.07),  # forehead
    (0.0, 0.08, 0.07, 0.16, -0.07),  # nasal ridge
    (0.0, 0.24, 0.09, 0.08, -0.2),  # nose tip: coldest point
    (-0.5, 0.22, 0.2, 0.18, -0.08),  # cheeks
    (0.5, 0.22, 0.2, 0.18, -0.08),
    (0.0, 0.53, 0.22, 0.06, 0.09),  # lips
)
# Where the ICAS cooling (and the natural asymmetry) lives, mirrored per side.
ASYMMETRY_REGION = (0.3, -0.4, 0.2, 0.28)


@dataclass(frozen=True)
class Patient:
    pid: str
    label: int
    half_width: float  # face half-width as a fraction of the image width
    aspect: float  # face half-height / half-width in pixels
    jaw_taper: float
    baseline: float
    blobs: np.ndarray  # (n, 5) jittered landmark blobs
    hairline: float
    hair_cooling: float
    signal_side: int  # -1 image-left, +1 image-right, 0 none
    signal_magnitude: float
    natural_asymmetry: float  # signed left-minus-right offset present in both classes


def _gauss(u: np.ndarray, v: np.ndarray, blob: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Axis-aligned Gaussian on a row vector u and column vector v; separable, hence cheap."""
    cu, cv, su, sv, amp = blob
    return (amp * np.exp(-0.5 * ((v - cv) / sv) ** 2)) * np.exp(-0.5 * ((u - cu) / su) ** 2)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def make_patient(pid: str, label: int, rng: np.random.Generator, spec: SyntheticSpec) -> Patient:
    base = np.array(FACE_BLOBS)
    jitter = np.column_stack(
        [
            rng.normal(0.0, 0.02, len(base)),
            rng.normal(0.0, 0.02, len(base)),
            rng.uniform(0.85, 1.15, len(base)),
            rng.uniform(0.85, 1.15, len(base)),
            rng.uniform(0.7, 1.3, len(base)),
        ]
    )
    blobs = base.copy()
    blobs[:, :2] += jitter[:, :2]
    blobs[:, 2:] *= jitter[:, 2:]
    # Individual skin texture: a few faint random warm/cool patches.
    n_tex = 6
    texture = np.column_stack(
        [
            rng.uniform(-0.7, 0.7, n_tex),
            rng.uniform(-0.7, 0.7, n_tex),
            rng.uniform(0.12, 0.3, n_tex),
            rng.uniform(0.12, 0.3, n_tex),
            rng.normal(0.0, 0.015, n_tex),
        ]
    )
    side = int(rng.choice([-1, 1]))
    magnitude = float(rng.uniform(0.5, 1.5)) * spec.signal * BASE_DELTA
    natural = float(rng.normal(0.0, NATURAL_ASYMMETRY_SD))
    return Patient(
        pid=pid,
        label=label,
        half_width=float(rng.uniform(0.36, 0.40)),
        aspect=float(rng.uniform(1.2, 1.4)),
        jaw_taper=float(rng.uniform(0.2, 0.38)),
        baseline=float(rng.uniform(0.5, 0.65)),
        blobs=np.vstack([blobs, texture]),
        hairline=float(rng.uniform(-0.85, -0.68)),
        hair_cooling=float(rng.uniform(0.1, 0.35)),
        signal_side=side if label == 1 else 0,
        signal_magnitude=magnitude if label == 1 else 0.0,
        natural_asymmetry=natural,
    )


def _asymmetry_field(u: np.ndarray, v: np.ndarray, left_minus_right: float) -> np.ndarray:
    """Split a signed left-minus-right offset evenly between the two mirrored regions."""
    cu, cv, su, sv = ASYMMETRY_REGION
    left = _gauss(u, v, (-cu, cv, su, sv, 1.0))
    right = _gauss(u, v, (cu, cv, su, sv, 1.0))
    return 0.5 * left_minus_right * (left - right)


def render_image(
    patient: Patient, rng: np.random.Generator, spec: SyntheticSpec
) -> tuple[np.ndarray, dict]:
    h, w = spec.height, spec.width
    scale = rng.uniform(0.95, 1.05)
    angle = rng.uniform(-8.0, 8.0)
    yaw = rng.uniform(-0.06, 0.06)
    cx = w * (0.5 + rng.uniform(-0.025, 0.025))
    cy = h * (0.52 + rng.uniform(-0.02, 0.02))
    a = patient.half_width * w * scale
    b = min(a * patient.aspect, 0.44 * h * scale)

    # Render upright in face coordinates (u: row vector, v: column vector), then rotate.
    u = ((np.arange(w, dtype=np.float32) - cx) / a)[None, :]
    v = ((np.arange(h, dtype=np.float32) - cy) / b)[:, None]

    # Head outline: ellipse narrowing towards the jaw, with small ears on both sides.
    half = 1.0 - patient.jaw_taper * np.clip(v, 0.0, 1.0) ** 2
    r = np.sqrt((u / half) ** 2 + v**2)
    ear = np.sqrt(((np.abs(u) - 1.0) / 0.1) ** 2 + ((v + 0.05) / 0.18) ** 2)
    ear_alpha = 1.0 - _smoothstep(0.8, 1.2, ear)
    face_alpha = np.maximum(1.0 - _smoothstep(0.97, 1.03, r), ear_alpha)

    # Facial features move horizontally with yaw while the outline stays put.
    uf = u - yaw
    temp = np.full((h, w), patient.baseline + rng.normal(0.0, 0.03), dtype=np.float32)
    for blob in patient.blobs:
        temp += _gauss(uf, v, blob)
    temp -= 0.12 * np.clip(r, 0.0, 1.2) ** 6  # skin cools towards the face edge
    temp -= 0.1 * ear_alpha * (r > 1.0)  # ears are cooler
    hairline = patient.hairline + 0.3 * u**2  # hair reaches lower at the temples
    temp -= patient.hair_cooling * (1.0 - _smoothstep(-0.05, 0.05, v - hairline))
    asym = patient.natural_asymmetry + rng.normal(0.0, IMAGE_ASYMMETRY_SD)
    # Cooling the image-left side lowers left-minus-right; cooling the right side raises it.
    asym += patient.signal_side * patient.signal_magnitude
    temp += _asymmetry_field(uf, v, asym)

    # Output pixel (x, y) samples the upright render at the face coordinates recorded in the
    # manifest: u = (cos*dx + sin*dy) / a, v = (-sin*dx + cos*dy) / b around the centre.
    c, s = np.cos(np.deg2rad(angle)), np.sin(np.deg2rad(angle))
    inverse = np.array([[c, s, cx - c * cx - s * cy], [-s, c, cy + s * cx - c * cy]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    temp = cv2.warpAffine(temp, inverse, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    face_alpha = cv2.warpAffine(face_alpha.astype(np.float32), inverse, (w, h), flags=flags)
    temp += rng.normal(0.0, 0.008, (h, w)).astype(np.float32)

    image, clutter = _scene(temp, face_alpha, rng, spec)
    geometry = {
        "center_x": cx,
        "center_y": cy,
        "angle_deg": angle,
        "half_width_px": a,
        "half_height_px": b,
        "yaw": yaw,
    }
    return image, {**{k: round(float(x), 4) for k, x in geometry.items()}, "clutter": clutter}


def _scene(
    temp: np.ndarray, face_alpha: np.ndarray, rng: np.random.Generator, spec: SyntheticSpec
) -> tuple[np.ndarray, bool]:
    """The face in its background, as the spec's format holds it, and whether an object was
    placed beside it."""
    floor, value, alpha, clutter = _background(temp, face_alpha, rng)
    value = np.clip(cv2.GaussianBlur(value, (0, 0), 0.7), 0.0, 1.0)
    if spec.format == "celsius":
        return _celsius(value, alpha, floor), clutter
    return _colorize(value, alpha, floor, spec.palette), clutter


def _background(
    temp: np.ndarray, face_alpha: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """A faint noise floor, and sometimes a warm object that does not touch the face:
    (floor, temperature, alpha of what is not floor, whether an object was placed)."""
    h, w = temp.shape
    floor_small = rng.uniform(0.0, 0.04, (max(h // 16, 2), max(w // 16, 2))).astype(np.float32)
    floor = cv2.resize(floor_small, (w, h), interpolation=cv2.INTER_CUBIC)
    floor = np.clip(floor + rng.uniform(0.0, 0.01, (h, w)).astype(np.float32), 0.0, 0.05)
    if not rng.random() < CLUTTER_PROBABILITY:
        return floor, temp, face_alpha, False
    obj = _place_clutter(face_alpha, rng)
    if obj is None:
        return floor, temp, face_alpha, False
    obj_alpha, obj_temp = obj
    return floor, np.where(obj_alpha > 0, obj_temp, temp), np.maximum(face_alpha, obj_alpha), True


def _place_clutter(
    face_alpha: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, float] | None:
    """Return (alpha, temperature) of a warm object clear of the face, or None if none fits."""
    h, w = face_alpha.shape
    margin = max(3, round(0.04 * w)) * 2 + 1
    face = (face_alpha > 0.01).astype(np.uint8)
    keep_out = cv2.dilate(face, np.ones((margin, margin), np.uint8)).astype(bool)
    ys, xs = np.ogrid[0:h, 0:w]
    for _ in range(12):
        size = rng.uniform(0.05, 0.11) * w
        ox, oy = rng.uniform(0, w), rng.uniform(0, h)
        if rng.random() < 0.5:
            shape = ((xs - ox) / size) ** 2 + ((ys - oy) / (size * rng.uniform(0.6, 1.6))) ** 2
            obj = shape <= 1.0
        else:
            obj = (np.abs(xs - ox) <= size) & (np.abs(ys - oy) <= size * rng.uniform(0.4, 1.2))
        if obj.sum() >= 4 and not np.any(obj & keep_out):
            return obj.astype(np.float32), float(rng.uniform(0.35, 0.8))
    return None


def _celsius(value: np.ndarray, alpha: np.ndarray, floor: np.ndarray) -> np.ndarray:
    """The same scene in deg C: the face and objects on the generator's scale, the background a
    room at AMBIENT_CELSIUS with the floor's noise."""
    scene = CELSIUS_LOW + CELSIUS_SPAN * value
    room = AMBIENT_CELSIUS + CELSIUS_SPAN * floor
    return (alpha * scene + (1.0 - alpha) * room).astype(np.float32)


def _colorize(value: np.ndarray, alpha: np.ndarray, floor: np.ndarray, palette: str) -> np.ndarray:
    """Map temperature to the palette but keep the background black, as in masked face crops."""
    cmap = PALETTES[palette]
    if cmap is None:
        out = alpha * value + (1.0 - alpha) * floor
        return np.round(out * 255.0).astype(np.uint8)
    colored = cv2.applyColorMap(np.round(value * 255.0).astype(np.uint8), cmap)
    out = alpha[..., None] * colored + (1.0 - alpha[..., None]) * (floor[..., None] * 255.0)
    return np.round(out).astype(np.uint8)
