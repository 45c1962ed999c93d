"""Apply a trained run (`trained_run.load_run`) to new images, with the run's own
preprocessing and threshold: everything that shaped the model's input (mask, asymmetry, image
size, normalisation) is read from the run's saved config, so a prediction cannot silently use
other settings."""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import torch

from thermal_icas.analysis.trained_run import TrainedRun
from thermal_icas.core import run_files
from thermal_icas.core.asymmetry import side_label
from thermal_icas.core.data.preprocess import PreprocessedImages, write_skipped
from thermal_icas.core.data.records import (
    compile_patient_regex,
    list_images,
    patient_of,
    patient_source,
)
from thermal_icas.core.errors import DatasetError
from thermal_icas.core.explain.maps import ExplanationMaps, explain_batch
from thermal_icas.core.explain.overlay import explanation_rows

log = logging.getLogger(__name__)


def find_images(source: str | Path) -> list[Path]:
    path = Path(source).expanduser()
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise DatasetError(f"input '{path}' does not exist")
    images = list_images(path)
    if not images:
        raise DatasetError(f"input '{path}' holds no images")
    return images


@dataclass(frozen=True)
class Scored:
    """Images through a run: what preprocessing kept, each kept image's positive-class
    probability, and for the asymmetry arms the signed side scores."""

    paths: list[Path]
    processed: PreprocessedImages
    probs: list[float]
    sides: list[float]


def score_images(
    run: TrainedRun, paths: list[Path], batch_size: int = 64, explain_dir: Path | None = None
) -> Scored:
    """The run's preprocessing and classifier on `paths`; with `explain_dir`, an overlay per
    image there. For the asymmetry arms every image is explained, for the side it blames."""
    preprocessor = run.preprocessor()
    processed = preprocessor([str(p) for p in paths])
    transform = preprocessor.eval_transform()
    device = next(run.classifier.parameters()).device
    probs: list[float] = []
    sides: list[float] = []
    for start in range(0, len(processed.kept), batch_size):
        chunk = processed.images[start : start + batch_size]
        batch = torch.stack([transform(image) for image in chunk]).to(device)
        if explain_dir is not None or run.on_midline:
            # the explaining pass runs the model too: its logits are the predictions
            maps = explain_batch(run.classifier, batch, *run.explain_spec).cpu()
            logits = maps.logits
            if maps.side is not None:
                sides += maps.side.tolist()
        else:
            with torch.inference_mode():
                logits = run.classifier(batch)
        positive = logits.float().softmax(-1)[:, run.classes.positive_index].tolist()
        if explain_dir is not None:
            _write_overlays(run, processed, maps, positive, start, paths, explain_dir)
        probs += positive
    return Scored(paths, processed, probs, sides)


def refuse_unusable(scored: Scored, source: str | Path, output_dir: Path) -> None:
    """`skipped.csv` when an image could not be used; an error when none could."""
    processed = scored.processed
    if processed.skipped:
        output_dir.mkdir(parents=True, exist_ok=True)
        write_skipped(output_dir / run_files.SKIPPED, processed.skipped)
    if not processed.kept:
        shown = "; ".join(f"{Path(path).name}: {reason}" for path, reason in processed.skipped[:5])
        more = f"; {len(processed.skipped) - 5} more" if len(processed.skipped) > 5 else ""
        raise DatasetError(
            f"none of the {len(scored.paths)} image(s) of input '{source}' can be used "
            f"({shown}{more}); all are listed in {output_dir / run_files.SKIPPED}"
        )


def predict(
    run: TrainedRun,
    source: str | Path,
    output_dir: Path,
    batch_size: int = 64,
    explain: bool = False,
) -> Path:
    """Writes `predictions.csv` (and `skipped.csv`, `explain/` overlays) into output_dir,
    with each image's side column for the asymmetry arms (`asymmetry.side_scores`)."""
    paths = find_images(source)
    explain_dir = output_dir / run_files.EXPLAIN_DIR if explain else None
    scored = score_images(run, paths, batch_size, explain_dir)
    refuse_unusable(scored, source, output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    patients = prediction_patients(*run.patient_reading, run.classes.names, source, paths)
    sides = scored.sides
    target = output_dir / run_files.PREDICTIONS
    with target.open("w", newline="") as handle:
        writer = csv.writer(handle)
        side_columns = ["side", "side_score"] if sides else []
        writer.writerow(["path", "patient", "prob_positive", "predicted", *side_columns])
        for k, (position, prob) in enumerate(zip(scored.processed.kept, scored.probs, strict=True)):
            path = paths[position]
            label = run.classes.predicted(prob, run.threshold)
            side = [side_label(sides[k]), f"{sides[k]:.6f}"] if sides else []
            writer.writerow([str(path), patients[position], f"{prob:.6f}", label, *side])
    log.info("Wrote %d predictions to %s", len(scored.probs), target)
    return target


def prediction_patients(
    patient_from: str,
    patient_regex: str,
    class_names: Sequence[str],
    source: str | Path,
    paths: Sequence[Path],
) -> list[str]:
    """Each image's patient id as the run read them (`data.patient_from`, `data.patient_regex`).
    The input folder stands where a class folder stood, or, when it holds
    the run's class folders, where data_dir stood; `auto` decides on the input. An image
    whose id cannot be read gets its file stem."""
    root = Path(source).expanduser()
    root = root.parent if root.is_file() else root

    def base(path: Path) -> Path:
        parts = path.relative_to(root).parts
        return root / parts[0] if len(parts) > 1 and parts[0] in class_names else root

    images = [(base(path), path) for path in paths]
    found = patient_source(patient_from, images)
    pattern = compile_patient_regex(patient_regex)
    patients = []
    for folder, path in images:
        try:
            patients.append(patient_of(folder, path, found, pattern))
        except DatasetError:
            patients.append(path.stem)
    return patients


def _write_overlays(
    run: TrainedRun,
    processed: PreprocessedImages,
    maps: ExplanationMaps,
    probs: list[float],
    start: int,
    paths: list[Path],
    out_dir: Path,
) -> None:
    """One overlay per image of a batch; `probs` are its positive-class probabilities."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for k, prob in enumerate(probs):
        path = paths[processed.kept[start + k]]
        caption = f"{path.name}: p({run.classes.positive})={prob:.2f}"
        sheet = explanation_rows(
            processed.images[start + k : start + k + 1],
            processed.faces[start + k : start + k + 1],
            maps.select(k),
            [caption],
        )
        name = f"{start + k:04d}_{path.stem}.png"
        cv2.imwrite(str(out_dir / name), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
