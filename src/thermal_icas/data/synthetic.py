"""Deterministic synthetic thermal-face dataset used as the embedded default data.

Real ICAS thermal images cannot be shipped, so the framework needs a stand-in that has the
same on-disk layout (``icas/`` and ``non_icas/`` folders, ``<patient>_<image>.jpg``, several
images per patient) and the same nuisances (pose, per-patient anatomy, background clutter,
sensor noise) while carrying a known, deliberately weak label signal: unilateral cooling of
the forehead and periorbital skin in ICAS patients. Because the signal strength is a spec
parameter, ``signal=0`` gives a null dataset on which any above-chance result means leakage.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

__all__ = ["SyntheticSpec", "ensure_dataset", "generate_dataset"]

# Bump whenever the rendering changes so cached datasets of an older generator are not reused.
GENERATOR_VERSION = 1

CLASS_DIRS = {1: "icas", 0: "non_icas"}
JPEG_QUALITY = 92
PALETTES = {"inferno": cv2.COLORMAP_INFERNO, "jet": cv2.COLORMAP_JET, "gray": None}

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
class SyntheticSpec:
    """Everything that determines the generated dataset; equal specs give identical bytes."""

    num_patients: int = 240
    positive_fraction: float = 1 / 3
    images_per_patient: tuple[int, int] = (2, 4)
    height: int = 192
    width: int = 160
    signal: float = 1.0
    palette: str = "inferno"
    seed: int = 0

    def __post_init__(self) -> None:
        # Config loaders hand over lists and ints where tuples and floats are declared; normalise
        # them so equal settings hash to the same cache directory and serialise to JSON.
        lo, hi = self.images_per_patient
        normalised = {
            "num_patients": int(self.num_patients),
            "positive_fraction": float(self.positive_fraction),
            "images_per_patient": (int(lo), int(hi)),
            "height": int(self.height),
            "width": int(self.width),
            "signal": float(self.signal),
            "palette": str(self.palette),
            "seed": int(self.seed),
        }
        for name, value in normalised.items():
            object.__setattr__(self, name, value)
        _validate(self)


@dataclass(frozen=True)
class _Patient:
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


def _validate(spec: SyntheticSpec) -> None:
    lo, hi = spec.images_per_patient
    if spec.num_patients < 1 or not 1 <= lo <= hi:
        raise ValueError(f"invalid patient/image counts in {spec}")
    if not 0.0 <= spec.positive_fraction <= 1.0 or spec.signal < 0.0:
        raise ValueError(f"positive_fraction must be in [0, 1] and signal >= 0: {spec}")
    if spec.palette not in PALETTES:
        raise ValueError(f"palette must be one of {sorted(PALETTES)}, got {spec.palette!r}")
    if spec.height < 16 or spec.width < 16:
        raise ValueError("images must be at least 16x16")


def _gauss(u: np.ndarray, v: np.ndarray, blob: np.ndarray | tuple[float, ...]) -> np.ndarray:
    """Axis-aligned Gaussian on a row vector u and column vector v; separable, hence cheap."""
    cu, cv, su, sv, amp = blob
    return (amp * np.exp(-0.5 * ((v - cv) / sv) ** 2)) * np.exp(-0.5 * ((u - cu) / su) ** 2)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _make_patient(pid: str, label: int, rng: np.random.Generator, spec: SyntheticSpec) -> _Patient:
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
    return _Patient(
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


def _render_image(
    patient: _Patient, rng: np.random.Generator, spec: SyntheticSpec
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

    # Background: a faint noise floor, sometimes a warm object that does not touch the face.
    floor_small = rng.uniform(0.0, 0.04, (max(h // 16, 2), max(w // 16, 2))).astype(np.float32)
    floor = cv2.resize(floor_small, (w, h), interpolation=cv2.INTER_CUBIC)
    floor = np.clip(floor + rng.uniform(0.0, 0.01, (h, w)).astype(np.float32), 0.0, 0.05)
    value, alpha = temp, face_alpha
    clutter = rng.random() < CLUTTER_PROBABILITY
    if clutter:
        obj = _place_clutter(face_alpha, rng)
        if obj is None:
            clutter = False
        else:
            obj_alpha, obj_temp = obj
            value = np.where(obj_alpha > 0, obj_temp, temp)
            alpha = np.maximum(face_alpha, obj_alpha)

    value = np.clip(cv2.GaussianBlur(value, (0, 0), 0.7), 0.0, 1.0)
    image = _colorize(value, alpha, floor, spec.palette)
    geometry = {
        "center_x": cx,
        "center_y": cy,
        "angle_deg": angle,
        "half_width_px": a,
        "half_height_px": b,
        "yaw": yaw,
    }
    return image, {**{k: round(float(x), 4) for k, x in geometry.items()}, "clutter": clutter}


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


def _colorize(value: np.ndarray, alpha: np.ndarray, floor: np.ndarray, palette: str) -> np.ndarray:
    """Map temperature to the palette but keep the background black, as in masked face crops."""
    cmap = PALETTES[palette]
    if cmap is None:
        out = alpha * value + (1.0 - alpha) * floor
        return np.round(out * 255.0).astype(np.uint8)
    colored = cv2.applyColorMap(np.round(value * 255.0).astype(np.uint8), cmap)
    out = alpha[..., None] * colored + (1.0 - alpha[..., None]) * (floor[..., None] * 255.0)
    return np.round(out).astype(np.uint8)


def generate_dataset(out_dir: Path, spec: SyntheticSpec) -> None:
    """Write out_dir/icas/*.jpg and out_dir/non_icas/*.jpg (+ out_dir/manifest.json).

    Each patient draws from its own spawned generator, so a patient's images do not depend on
    how many other patients there are or the order they are rendered in.
    """
    out_dir = Path(out_dir)
    for name in CLASS_DIRS.values():
        (out_dir / name).mkdir(parents=True, exist_ok=True)

    root = np.random.SeedSequence(spec.seed)
    label_seq, *patient_seqs = root.spawn(spec.num_patients + 1)
    num_pos = round(spec.num_patients * spec.positive_fraction)
    labels = np.zeros(spec.num_patients, dtype=int)
    labels[np.random.default_rng(label_seq).permutation(spec.num_patients)[:num_pos]] = 1
    width = max(4, len(str(spec.num_patients)))

    records = []
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    for idx, (label, seq) in enumerate(zip(labels.tolist(), patient_seqs, strict=True)):
        rng = np.random.default_rng(seq)
        patient = _make_patient(f"P{idx + 1:0{width}d}", label, rng, spec)
        n_images = int(rng.integers(spec.images_per_patient[0], spec.images_per_patient[1] + 1))
        for image_idx in range(1, n_images + 1):
            image, geometry = _render_image(patient, rng, spec)
            rel = f"{CLASS_DIRS[label]}/{patient.pid}_{image_idx}.jpg"
            if not cv2.imwrite(str(out_dir / rel), image, params):
                raise OSError(f"could not write {out_dir / rel}")
            records.append(
                {
                    "file": rel,
                    "patient": patient.pid,
                    "label": label,
                    "signal_side": {-1: "left", 1: "right", 0: None}[patient.signal_side],
                    "signal_magnitude": round(patient.signal_magnitude, 6),
                    "natural_asymmetry": round(patient.natural_asymmetry, 6),
                    **geometry,
                }
            )
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "spec": asdict(spec),
        "side_convention": "left/right refer to the image, not the patient",
        "images": records,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))


def _spec_hash(spec: SyntheticSpec) -> str:
    """Short stable digest that changes with the spec or the generator version."""
    payload = json.dumps({"v": GENERATOR_VERSION, **asdict(spec)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def ensure_dataset(cache_root: Path, spec: SyntheticSpec) -> Path:
    """Return cache_root/<name>-<short hash of the spec>; generate it first if absent.

    The dataset is rendered into a hidden temporary sibling and renamed into place, so the
    final directory only ever appears complete; a caller that loses a rename race to a
    concurrent caller simply discards its own copy.
    """
    cache_root = Path(cache_root)
    final = cache_root / f"synthetic-{_spec_hash(spec)}"
    if (final / "manifest.json").is_file():
        return final
    cache_root.mkdir(parents=True, exist_ok=True)
    # Not mkdtemp: its private 0700 mode would survive the rename and lock others out of a
    # shared cache; a plain mkdir honours the umask.
    tmp = cache_root / f".{final.name}.tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    try:
        generate_dataset(tmp, spec)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / "manifest.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
