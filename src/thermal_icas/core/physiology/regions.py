"""Regional temperatures of a face turned upright and centred on its midline: the hand-made
features the field's studies compare networks with (forehead, supraorbital and periorbital skin,
nose, cheeks, temples), their left-right differences and the face's mean and spread.

Sides are the image's: `left` is the image-left half (the patient's right in a frontal view), as
in the embedded data's manifest. A region is a box in face coordinates: `u` is the distance from
the midline as a share of the face's half-width (a paired region spans u0..u1 on each side, a
central one -u1..u1), `v` the depth below the top of the face as a share of its height. A box
with fewer than MIN_PIXELS face pixels (a temple behind hair, a turned head) is NaN: not visible.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from thermal_icas.core.asymmetry import align_on_midline

# (u0, u1, v0, v1); placed from the embedded generator's anatomy and the script baseline's boxes
# (scripts/regional_baseline.py), before any result was read; not tuned on real faces
PAIRED: dict[str, tuple[float, float, float, float]] = {
    "forehead": (0.05, 0.6, 0.10, 0.25),
    "supraorbital": (0.1, 0.6, 0.25, 0.35),
    "periorbital": (0.1, 0.7, 0.33, 0.45),
    "cheek": (0.3, 0.75, 0.50, 0.65),
    "temple": (0.65, 0.95, 0.20, 0.40),
}
CENTRAL: dict[str, tuple[float, float, float, float]] = {"nose": (0.0, 0.15, 0.50, 0.65)}
MIN_PIXELS = 5
SIDES = ("left", "right")


def feature_names() -> list[str]:
    """Each side's mean, the central means, then per pair left - right and |left - right|,
    then the face's mean and spread (standard deviation)."""
    names = [f"{region}_{side}" for region in PAIRED for side in SIDES]
    names += list(CENTRAL)
    names += [f"{region}_difference" for region in PAIRED]
    names += [f"{region}_abs_difference" for region in PAIRED]
    return [*names, "face_mean", "face_spread"]


def face_frame(face: np.ndarray) -> tuple[float, float, float, float]:
    """(midline column, top row, half-width, height) of a face mask centred on its midline."""
    rows, columns = np.nonzero(face)
    if rows.size == 0:
        raise ValueError("the face mask is empty")
    height = float(rows.max() - rows.min() + 1)
    half_width = (columns.max() - columns.min() + 1) / 2
    return face.shape[1] / 2, float(rows.min()), float(half_width), height


def _box_mean(values: np.ndarray, face: np.ndarray, columns: slice, rows: slice) -> float:
    inside = face[rows, columns]
    if int(inside.sum()) < MIN_PIXELS:
        return float("nan")
    return float(values[rows, columns][inside].mean())


def region_features(values: np.ndarray, face: np.ndarray) -> np.ndarray:
    """The `feature_names` of one face: `values` an HxW map (deg C, or a picture's relative
    scale), `face` a boolean mask of the same size, both already centred on the midline."""
    mid, top, half_width, height = face_frame(face)

    def rows(v0: float, v1: float) -> slice:
        return slice(round(top + v0 * height), max(round(top + v1 * height), 1))

    def columns(u0: float, u1: float, sign: int) -> slice:
        ends = sorted((round(mid + sign * u0 * half_width), round(mid + sign * u1 * half_width)))
        return slice(max(ends[0], 0), max(ends[1], 1))

    means = {}
    for region, (u0, u1, v0, v1) in PAIRED.items():
        for side, sign in zip(SIDES, (-1, 1), strict=True):
            means[f"{region}_{side}"] = _box_mean(values, face, columns(u0, u1, sign), rows(v0, v1))
    for region, (_, u1, v0, v1) in CENTRAL.items():
        means[region] = _box_mean(values, face, columns(-u1, u1, 1), rows(v0, v1))
    differences = [means[f"{r}_left"] - means[f"{r}_right"] for r in PAIRED]
    skin = values[face]
    return np.array(
        [*means.values(), *differences, *np.abs(differences), skin.mean(), skin.std()],
        dtype=np.float64,
    )


def image_regions(values: np.ndarray, face: np.ndarray) -> np.ndarray:
    """`region_features` of a face as read (not yet aligned): turned upright and centred on its
    midline first, the way the asymmetry arms see it."""
    aligned, mask = align_on_midline(
        values.astype(np.float32), face.astype(np.float32), np.zeros(1)
    )
    return region_features(aligned, mask > 0.5)


def patient_means(patients: Sequence[str], rows: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Each patient's features: the mean over its images of each feature seen (NaN where no
    image shows it), patients in order of first appearance."""
    order = list(dict.fromkeys(patients))
    index = {patient: i for i, patient in enumerate(order)}
    sums = np.zeros((len(order), rows.shape[1]))
    counts = np.zeros_like(sums)
    for patient, row in zip(patients, rows, strict=True):
        seen = ~np.isnan(row)
        sums[index[patient], seen] += row[seen]
        counts[index[patient], seen] += 1
    with np.errstate(invalid="ignore"):
        return order, np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
