"""Where a trained classifier looks across a whole split, by class: `thermal-icas explain-cohort`.

One image's map says little; what a reader wants to know is whether the model looks at other
parts of ICAS faces than of controls. Every image of the split is preprocessed as the run was
and explained with the run's method and layer; each face and its map are then turned upright
and centred on the face's midline (`align_on_midline`, whatever the run's asymmetry setting),
so that averages are of like with like. Maps are read as a distribution of mass (each divided
by its total before alignment) and averaged per patient, then over the patients of a class.
Region shares and their tests are in `thermal_icas.core.explain.regions`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from thermal_icas.analysis.plots import save
from thermal_icas.analysis.trained_run import TrainedRun
from thermal_icas.core import run_files
from thermal_icas.core.asymmetry import align_on_midline
from thermal_icas.core.data.records import ImageRecord
from thermal_icas.core.data.splits import read_splits
from thermal_icas.core.errors import DatasetError
from thermal_icas.core.explain.focus import upsample
from thermal_icas.core.explain.maps import explain_batch
from thermal_icas.core.explain.regions import (
    COLUMNS,
    REGIONS,
    RegionTest,
    compare_regions,
    face_regions,
    per_patient,
)


@dataclass(frozen=True)
class AlignedMaps:
    """A split's faces and maps aligned at the midline, one row per image."""

    records: list[ImageRecord]
    pictures: np.ndarray  # (N, S, S) grey level of the model input, in [0, 1]
    faces: np.ndarray  # (N, S, S) face masks in [0, 1]
    maps: np.ndarray  # (N, S, S) class maps as shares of their mass; NaN for a massless map


@dataclass(frozen=True)
class CohortResult:
    tests: list[RegionTest]
    maps_path: Path
    regions_path: Path


def split_records(run: TrainedRun, split: str) -> list[ImageRecord]:
    """The images of one split, from the run's splits.csv."""
    path = run.directory / run_files.SPLITS
    records = [record for record, name in read_splits(path, run.classes) if name == split]
    if not records:
        raise DatasetError(f"'{path}' has no images in the '{split}' split")
    return records


def align_face(
    picture: np.ndarray, face: np.ndarray, heat: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An (S, S) picture, face mask and map, upright with the face's midline at the centre
    column; the side padding that centring adds is cropped away again (the face, symmetric
    about its midline, lies within it), so every face keeps its proportions and size."""
    stacked = np.dstack([picture, heat]).astype(np.float32)
    aligned, face = align_on_midline(stacked, face.astype(np.float32), np.zeros(2))
    start = (aligned.shape[1] - picture.shape[1]) // 2
    window = slice(start, start + picture.shape[1])
    return aligned[:, window, 0], face[:, window], aligned[:, window, 1]


def explain_split(run: TrainedRun, records: list[ImageRecord], batch_size: int) -> AlignedMaps:
    preprocessor = run.preprocessor()
    processed = preprocessor([record.path for record in records])
    transform = preprocessor.eval_transform()
    device = next(run.classifier.parameters()).device
    size = processed.images.shape[-1]
    pictures, faces, maps = [], [], []
    for start in range(0, len(processed.kept), batch_size):
        chunk = processed.images[start : start + batch_size]
        batch = torch.stack([transform(image) for image in chunk]).to(device)
        cams = upsample(
            explain_batch(run.classifier, batch, *run.explain_spec).cam.cpu(), (size, size)
        )
        for k, cam in enumerate(cams.numpy()):
            grey = chunk[k].float().mean(0).numpy() / 255.0
            face = processed.faces[start + k].numpy() / 255.0
            picture, face, heat = align_face(grey, face, cam)
            total = float(cam.sum())
            pictures.append(picture)
            faces.append(face)
            maps.append(heat / total if total > 0 else np.full_like(heat, np.nan))
    kept = [records[position] for position in processed.kept]
    return AlignedMaps(kept, np.stack(pictures), np.stack(faces), np.stack(maps))


def region_shares(aligned: AlignedMaps) -> np.ndarray:
    """(N, regions) share of each image's map mass in each region (NaN: no mass)."""
    shares = np.empty((len(aligned.records), len(REGIONS)))
    for i, (face, heat) in enumerate(zip(aligned.faces, aligned.maps, strict=True)):
        regions = face_regions(face)
        shares[i] = [float((heat * regions[name]).sum()) for name in REGIONS]
    return shares


def explain_cohort(run: TrainedRun, split: str = "test", batch_size: int = 64) -> CohortResult:
    """Writes `run_files.COHORT_MAPS` and `run_files.COHORT_REGIONS` into the run folder."""
    aligned = explain_split(run, split_records(run, split), batch_size)
    patients = [record.patient for record in aligned.records]
    is_icas = {r.patient: r.label == run.classes.positive_index for r in aligned.records}
    order, shares = per_patient(patients, region_shares(aligned))
    positive = np.array([is_icas[p] for p in order])
    tests = compare_regions(shares, positive)
    out_dir = run.directory / run_files.COHORT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    regions_path = run.directory / run_files.COHORT_REGIONS
    with regions_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for test in tests:
            writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in test.row()])
    _, patient_maps = per_patient(patients, aligned.maps.reshape(len(patients), -1))
    maps_path = run.directory / run_files.COHORT_MAPS
    plot_class_maps(
        aligned,
        patient_maps.reshape(len(order), *aligned.maps.shape[1:]),
        positive,
        (run.classes.positive, run.classes.negative),
        f"{run.directory.name}, {split} split",
        maps_path,
    )
    return CohortResult(tests, maps_path, regions_path)


def plot_class_maps(
    aligned: AlignedMaps,
    patient_maps: np.ndarray,
    positive: np.ndarray,
    names: tuple[str, str],
    title: str,
    path: Path,
) -> None:
    """Each class's mean map (patients weigh equally) and their difference, over the mean
    aligned face, with the regions outlined."""
    has_map = ~np.isnan(patient_maps).any((1, 2))
    means = [patient_maps[has_map & (positive == side)].mean(0) for side in (True, False)]
    difference = means[0] - means[1]
    face = aligned.pictures.mean(0)
    outline = face_regions(aligned.faces.mean(0))
    counts = [int((has_map & (positive == side)).sum()) for side in (True, False)]
    figure, axes = plt.subplots(1, 3, figsize=(10.5, 3.8))
    top = max(float(means[0].max()), float(means[1].max()), 1e-12)
    reach = max(float(np.abs(difference).max()), 1e-12)
    panels = [
        (means[0], f"{names[0]} ({counts[0]} patients)", "inferno", 0.0, top),
        (means[1], f"{names[1]} ({counts[1]} patients)", "inferno", 0.0, top),
        (difference, f"{names[0]} - {names[1]}", "RdBu_r", -reach, reach),
    ]
    for ax, (heat, label, colours, low, high) in zip(axes, panels, strict=True):
        ax.imshow(face, cmap="gray", vmin=0, vmax=max(float(face.max()), 1e-12))
        shown = ax.imshow(heat, cmap=colours, vmin=low, vmax=high, alpha=0.6)
        for region in outline.values():
            if region.any():
                ax.contour(region.astype(float), levels=[0.5], colors="white", linewidths=0.6)
        ax.set(title=label, xticks=[], yticks=[])
        figure.colorbar(shown, ax=ax, fraction=0.046, label="share of map mass per pixel")
    figure.suptitle(f"Class maps on faces aligned at the midline (left = image left): {title}")
    save(figure, path)


def format_table(tests: list[RegionTest]) -> str:
    """The region tests as the console shows them; effect > 0: more mass there in ICAS."""
    lines = [
        f"{'region':<18} {'n_icas':>6} {'n_non':>6} {'mean_icas':>10} {'mean_non':>10} "
        f"{'p':>8} {'p_holm':>8} {'effect':>7}"
    ]
    for t in tests:
        lines.append(
            f"{t.region:<18} {t.n_icas:>6} {t.n_non_icas:>6} {t.mean_icas:>10.3f} "
            f"{t.mean_non_icas:>10.3f} {t.p:>8.3g} {t.p_holm:>8.3g} {t.effect_size:>+7.2f}"
        )
    return "\n".join(lines)
