"""After the test: overlays for a fixed set of test images of both classes, right and wrong."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch

from thermal_icas.core import run_files
from thermal_icas.core.data.classes import ClassInfo
from thermal_icas.core.data.datasets import CachedImageDataset
from thermal_icas.core.data.records import ImageRecord
from thermal_icas.core.explain.focus import in_face_share, top_mass_share
from thermal_icas.core.explain.maps import explain_batch
from thermal_icas.core.explain.overlay import explanation_rows
from thermal_icas.core.models.heads import ThermalClassifier


def write_explanations(
    out_dir: Path,
    classifier: ThermalClassifier,
    dataset: CachedImageDataset,
    indices: Sequence[int],
    records: Sequence[ImageRecord],
    probs: Sequence[float],
    threshold: float,
    classes: ClassInfo,
    layer: str,
    method: str,
    per_group: int = 4,
    tile: int = 128,
    clinical: torch.Tensor | None = None,
) -> list[Path]:
    """One PNG per chosen image, `overview.png` with all of them, and `index.csv`.

    `indices` (dataset indices), `records` and `probs` describe the predicted images. The
    choice is fixed by the dataset's order: the first `per_group` images of each true class
    that were predicted right, and wrong, at the val-chosen threshold, so reruns and the
    ablation arms show the same images where they can. `clinical` holds a fused classifier's
    clinical features per image row (indexed like `indices`).
    """
    assert dataset.faces is not None, "explanations need a dataset with face regions"
    position = {index: k for k, index in enumerate(dataset.indices)}
    order = sorted(range(len(indices)), key=lambda k: position[indices[k]])
    records = [records[k] for k in order]
    probs = [probs[k] for k in order]
    chosen = _choose(records, probs, threshold, classes, per_group)
    if not chosen:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    picked = [indices[order[k]] for k, _ in chosen]
    device = next(classifier.parameters()).device
    batch = torch.stack([dataset[position[i]]["image"] for i in picked]).to(device)
    covariates = None if clinical is None else clinical[picked].to(device)
    maps = explain_batch(classifier, batch, layer, method, covariates).cpu()
    faces = dataset.faces[picked]
    in_face, sparsity = _focus(maps.cam, torch.stack([dataset.face(i)[0] for i in picked]))

    written, rows = [], []
    for k, (item, outcome) in enumerate(chosen):
        record = records[item]
        label = classes.names[record.label]
        name = Path(record.path).name
        caption = f"{label}, p({classes.positive})={probs[item]:.2f}: {outcome.upper()} | {name}"
        one = slice(k, k + 1)
        sheet = explanation_rows(
            dataset.images[picked[one]], faces[one], maps.select(k), [caption], tile
        )
        path = out_dir / f"{k:02d}_{label}_{outcome}_{Path(record.path).stem}.png"
        cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        written.append(path)
        shares = f"{in_face[k]:.4f}", f"{sparsity[k]:.4f}"
        rows.append([path.name, record.path, label, f"{probs[item]:.6f}", outcome, *shares])
    captions = [f"{row[2]}, p={float(row[3]):.2f}: {row[4].upper()}" for row in rows]
    overview = explanation_rows(dataset.images[picked], faces, maps, captions, tile)
    _write_overview_and_index(out_dir, overview, rows)
    return written


def _focus(cam: torch.Tensor, face_regions: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per image: the map's share inside the face, and how concentrated it is."""
    in_face = in_face_share(cam, face_regions).tolist()
    return in_face, top_mass_share(cam, face_regions.shape[-2:]).tolist()


def _write_overview_and_index(out_dir: Path, overview: np.ndarray, rows: list[list[str]]) -> None:
    cv2.imwrite(
        str(out_dir / run_files.EXPLAIN_OVERVIEW), cv2.cvtColor(overview, cv2.COLOR_RGB2BGR)
    )
    with (out_dir / run_files.EXPLAIN_INDEX).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["file", "path", "label", "prob_positive", "outcome", "in_face", "sparsity"]
        )
        writer.writerows(rows)


def _choose(
    records: Sequence[ImageRecord],
    probs: Sequence[float],
    threshold: float,
    classes: ClassInfo,
    per_group: int,
) -> list[tuple[int, str]]:
    """(list position, "correct" | "wrong") by class, then outcome, then list order."""
    chosen = []
    for label in range(len(classes.names)):
        for outcome in ("correct", "wrong"):
            group = [
                position
                for position, record in enumerate(records)
                if record.label == label
                and _outcome(record, probs[position], threshold, classes) == outcome
            ]
            chosen += [(position, outcome) for position in group[:per_group]]
    return chosen


def _outcome(record: ImageRecord, prob: float, threshold: float, classes: ClassInfo) -> str:
    right = classes.predicted(prob, threshold) == classes.names[record.label]
    return "correct" if right else "wrong"
