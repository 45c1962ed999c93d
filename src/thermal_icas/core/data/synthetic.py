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

from thermal_icas.core.data.synthetic_faces import PALETTES, make_patient, render_image

__all__ = ["SyntheticSpec", "ensure_dataset", "generate_dataset"]

# Bump whenever the rendering changes so cached datasets of an older generator are not reused.
GENERATOR_VERSION = 1

CLASS_DIRS = {1: "icas", 0: "non_icas"}
JPEG_QUALITY = 92
FORMATS = ("image", "celsius")


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
    # image: pseudo-colour JPEGs through `palette`; celsius: the radiometric twin, the same
    # faces as float32 deg C arrays (.npy), read with data.format=celsius
    format: str = "image"

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
            "format": str(self.format),
        }
        for name, value in normalised.items():
            object.__setattr__(self, name, value)
        _validate(self)


def _validate(spec: SyntheticSpec) -> None:
    lo, hi = spec.images_per_patient
    if spec.num_patients < 1 or not 1 <= lo <= hi:
        raise ValueError(f"invalid patient/image counts in {spec}")
    if not 0.0 <= spec.positive_fraction <= 1.0 or spec.signal < 0.0:
        raise ValueError(f"positive_fraction must be in [0, 1] and signal >= 0: {spec}")
    if spec.palette not in PALETTES:
        raise ValueError(f"palette must be one of {sorted(PALETTES)}, got {spec.palette!r}")
    if spec.format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {spec.format!r}")
    if spec.height < 16 or spec.width < 16:
        raise ValueError("images must be at least 16x16")


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
        patient = make_patient(f"P{idx + 1:0{width}d}", label, rng, spec)
        n_images = int(rng.integers(spec.images_per_patient[0], spec.images_per_patient[1] + 1))
        for image_idx in range(1, n_images + 1):
            image, geometry = render_image(patient, rng, spec)
            suffix = ".npy" if spec.format == "celsius" else ".jpg"
            rel = f"{CLASS_DIRS[label]}/{patient.pid}_{image_idx}{suffix}"
            if spec.format == "celsius":
                np.save(out_dir / rel, image)
            elif not cv2.imwrite(str(out_dir / rel), image, params):
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
        "spec": _spec_fields(spec),
        "side_convention": "left/right refer to the image, not the patient",
        "images": records,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))


def _spec_fields(spec: SyntheticSpec) -> dict:
    """The spec as recorded; the pseudo-colour default without `format`, so its datasets keep
    the names and manifests they had before the radiometric twin."""
    fields = asdict(spec)
    if spec.format == "image":
        del fields["format"]
    return fields


def _spec_hash(spec: SyntheticSpec) -> str:
    """Short stable digest that changes with the spec or the generator version."""
    payload = json.dumps({"v": GENERATOR_VERSION, **_spec_fields(spec)}, sort_keys=True)
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
