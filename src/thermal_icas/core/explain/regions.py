"""Facial regions of an aligned face and a per-patient test of where the class maps put mass.

The regions are drawn from the face mask's geometry, so they follow each face: on a face
aligned at its midline (`align_on_midline`, midline = the centre column), `v` is the height
below the top of the mask's bounding box as a share of the box's height (0 at the top, 1 at
the chin) and `u` the signed distance from the midline as a share of the box's half-width
(negative on the image-left). A region is the face-mask pixels with v in [v0, v1) and |u| in
[u0, u1), on one side for the paired regions:

| region | v | abs(u) |
|---|---|---|
| forehead | 0.12-0.34 | 0-0.60 |
| periorbital left / right | 0.34-0.52 | 0.15-0.70 |
| nose | 0.40-0.70 | 0-0.15 |
| cheek left / right | 0.52-0.75 | 0.20-0.80 |

They are disjoint (nose and the eyes differ in |u|, eyes and cheeks in v) and "left/right" is
the IMAGE's left/right (as in the `side` column of the predictions), not the subject's.
The bands sit where the embedded synthetic faces have their landmarks (eyes at v ~ 0.44,
nose tip ~ 0.62, cheeks ~ 0.61); on real faces they are approximate.

The statistics treat the PATIENT as the unit: an image's value is the share of its map's mass
in a region, a patient's value the mean over its images, and ICAS and non-ICAS patients are
compared per region by a two-sided Mann-Whitney U test, Holm-corrected over the regions. The
effect size is the rank-biserial correlation 2 U / (n_icas n_non_icas) - 1 with U the ICAS
sample's statistic: positive when ICAS patients' maps put MORE of their mass in the region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import mannwhitneyu

# name: ((v0, v1), (|u|0, |u|1), side): side -1 image-left, +1 image-right, 0 both
REGIONS: dict[str, tuple[tuple[float, float], tuple[float, float], int]] = {
    "forehead": ((0.12, 0.34), (0.0, 0.60), 0),
    "periorbital left": ((0.34, 0.52), (0.15, 0.70), -1),
    "periorbital right": ((0.34, 0.52), (0.15, 0.70), 1),
    "nose": ((0.40, 0.70), (0.0, 0.15), 0),
    "cheek left": ((0.52, 0.75), (0.20, 0.80), -1),
    "cheek right": ((0.52, 0.75), (0.20, 0.80), 1),
}
COLUMNS = (
    "region",
    "n_icas",
    "n_non_icas",
    "mean_icas",
    "mean_non_icas",
    "statistic",
    "p",
    "p_holm",
    "effect_size",
)


def face_regions(face: np.ndarray) -> dict[str, np.ndarray]:
    """(H, W) boolean masks of REGIONS on a face mask (values in [0, 1]) whose midline is the
    centre column; all empty when the mask is."""
    inside = face > 0.5
    rows, columns = np.flatnonzero(inside.any(1)), np.flatnonzero(inside.any(0))
    if rows.size == 0:
        return {name: np.zeros_like(inside) for name in REGIONS}
    height, width = inside.shape
    v = (np.arange(height) + 0.5 - rows[0]) / (rows[-1] + 1 - rows[0])
    half_width = (columns[-1] + 1 - columns[0]) / 2
    # pixel centres about the centre column: pixel x and its mirror W - 1 - x get -u and u
    u = (np.arange(width) + 0.5 - width / 2) / half_width
    regions = {}
    for name, ((v0, v1), (u0, u1), side) in REGIONS.items():
        band = (v >= v0) & (v < v1)
        reach = (np.abs(u) >= u0) & (np.abs(u) < u1)
        if side:
            reach &= np.sign(u) == side
        regions[name] = inside & band[:, None] & reach[None, :]
    return regions


def per_patient(patients: Sequence[str], values: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Patients in order of first appearance and the mean of their images' rows of `values`
    (NaN rows, images whose map has no mass, left out), so a patient counts once."""
    order = list(dict.fromkeys(patients))
    index = np.array([order.index(p) for p in patients])
    means = np.full((len(order), values.shape[1]), np.nan)
    for k in range(len(order)):
        rows = values[index == k]
        rows = rows[~np.isnan(rows).any(1)]
        if len(rows):
            means[k] = rows.mean(0)
    return order, means


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error), in the input's order."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    scaled = (len(p) - np.arange(len(p))) * p[order]
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(scaled), 1.0)
    return adjusted


@dataclass(frozen=True)
class RegionTest:
    region: str
    n_icas: int
    n_non_icas: int
    mean_icas: float
    mean_non_icas: float
    statistic: float  # Mann-Whitney U of the ICAS patients
    p: float
    p_holm: float
    effect_size: float  # rank-biserial correlation; > 0: more mass there in ICAS patients

    def row(self) -> list[object]:
        return [getattr(self, column) for column in COLUMNS]


def compare_regions(
    shares: np.ndarray, positive: np.ndarray, names: Sequence[str] = tuple(REGIONS)
) -> list[RegionTest]:
    """(P, R) per-patient shares and (P,) booleans (ICAS) -> one test per region column."""
    positive = np.asarray(positive, dtype=bool)
    tests = []
    for r in range(shares.shape[1]):
        icas = shares[positive, r][~np.isnan(shares[positive, r])]
        control = shares[~positive, r][~np.isnan(shares[~positive, r])]
        if not len(icas) or not len(control):
            raise ValueError(
                f"region '{names[r]}': {len(icas)} ICAS and {len(control)} non-ICAS patients "
                "with a map; both classes are needed"
            )
        result = mannwhitneyu(icas, control, alternative="two-sided")
        u = float(result.statistic)
        effect = 2 * u / (len(icas) * len(control)) - 1
        tests.append((names[r], icas, control, u, float(result.pvalue), effect))
    adjusted = holm([test[4] for test in tests])
    return [
        RegionTest(name, len(a), len(b), float(a.mean()), float(b.mean()), u, p, float(q), e)
        for (name, a, b, u, p, e), q in zip(tests, adjusted, strict=True)
    ]
