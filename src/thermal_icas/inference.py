"""Apply a trained run to new images, with the run's own preprocessing and threshold.

Everything that shaped the model's input (mask, asymmetry, image size, normalisation) is
read from the run's saved config, so a prediction cannot silently use other settings.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from thermal_icas import run_files
from thermal_icas.asymmetry import side_label
from thermal_icas.data.classes import ClassInfo
from thermal_icas.data.preprocess import PreprocessedImages, Preprocessor, write_skipped
from thermal_icas.data.records import (
    compile_patient_regex,
    list_images,
    patient_of,
    patient_source,
)
from thermal_icas.data.splits import SPLIT_POSITIVE
from thermal_icas.errors import DatasetError, PretrainedWeightsError
from thermal_icas.explain.maps import CAM_METHODS, ExplanationMaps, explain_batch
from thermal_icas.explain.overlay import explanation_rows
from thermal_icas.models.encoder import explain_layer
from thermal_icas.models.heads import ThermalClassifier
from thermal_icas.torch_files import read_checkpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainedRun:
    """A run folder's classifier and everything needed to feed it."""

    directory: Path
    checkpoint: Path
    cfg: DictConfig
    classes: ClassInfo
    threshold: float
    classifier: ThermalClassifier

    @property
    def on_midline(self) -> bool:
        """The asymmetry arms were trained on upright faces centred on their midline."""
        return self.cfg.asymmetry is not None

    @property
    def explain_spec(self) -> tuple[str, str]:
        """`explain_batch`'s layer and method, as the run was explained (runs older than
        `explain.method` get the current default)."""
        layer = explain_layer(self.cfg.explain.get("layer", "auto"), self.cfg.data.image_size)
        return layer, self.cfg.explain.get("method", CAM_METHODS[0])


def load_run(ckpt_path: str | Path, device: torch.device | str = "cpu") -> TrainedRun:
    """A run folder (its best classifier checkpoint) or a classifier checkpoint inside one."""
    path = Path(ckpt_path).expanduser().resolve()
    if path.is_dir():
        _refuse_clinical(path)
        candidates = run_files.best_checkpoints(path)
        if not candidates:
            wanted = run_files.STAGE_CHECKPOINTS["classifier"] / run_files.BEST_CHECKPOINT_GLOB
            raise PretrainedWeightsError(
                f"ckpt_path '{path}' holds no {wanted}: is it a finished run?"
            )
        directory, checkpoint = path, candidates[-1]
    elif path.is_file():
        # <run>/checkpoints/classifier/<file>; a file elsewhere fails the run check below
        directory, checkpoint = path.parents[min(2, len(path.parents) - 1)], path
        _refuse_clinical(directory)
    else:
        raise PretrainedWeightsError(f"ckpt_path '{path}' does not exist")
    if not (directory / run_files.CONFIG).is_file():
        raise PretrainedWeightsError(
            f"'{directory}' has no {run_files.CONFIG}: point ckpt_path at a run folder or at a "
            "checkpoint inside one"
        )
    if not (directory / run_files.METRICS).is_file():
        raise PretrainedWeightsError(
            f"'{directory}' is not a finished run (no {run_files.METRICS}, whose test/threshold "
            "predictions use): finish it with resume=<run> first"
        )
    cfg = OmegaConf.load(directory / run_files.CONFIG)
    assert isinstance(cfg, DictConfig)
    classes = run_classes(directory, cfg)
    metrics = json.loads((directory / run_files.METRICS).read_text())
    classifier = _load_classifier(checkpoint, cfg, len(classes.names)).to(device).eval()
    return TrainedRun(
        directory, checkpoint, cfg, classes, float(metrics["test/threshold"]), classifier
    )


def _refuse_clinical(directory: Path) -> None:
    """A clinical arm's scores need each patient's covariates, which images alone lack."""
    config = directory / run_files.CONFIG
    clinical = OmegaConf.load(config).get("clinical") if config.is_file() else None
    if clinical is not None:
        raise PretrainedWeightsError(
            f"'{directory}' is a clinical={clinical.use} run: its scores need each patient's "
            "clinical covariates, which predict.py does not take; use a run without clinical"
        )


def run_classes(directory: Path, cfg: DictConfig) -> ClassInfo:
    """The classes the run was trained with, positive as its splits.csv marks it. Runs from
    before that mark chose it by the rule of their time (`icas` exactly, else the last sorted
    name), which is what their threshold and metrics describe."""
    splits = directory / run_files.SPLITS
    with splits.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = tuple(sorted({row["label"] for row in rows}))
    marked = {row["label"] for row in rows if row.get(SPLIT_POSITIVE) == "1"}
    if len(marked) == 1:
        return ClassInfo(names, marked.pop())
    positive = cfg.data.positive_class or ("icas" if "icas" in names else names[-1])
    log.warning("%s marks no positive class (an older run): taking '%s'", splits, positive)
    return ClassInfo(names, positive)


def _instead(checkpoint: Path) -> str:
    """The run's other classifier checkpoints, which could serve in a damaged one's place."""
    folder = checkpoint.parent
    last = folder / run_files.LAST_CHECKPOINT
    others = [p for p in sorted(folder.glob(run_files.BEST_CHECKPOINT_GLOB)) if p != checkpoint]
    others += [last] if last.is_file() and last != checkpoint else []
    if not others:
        return "the run has no other classifier checkpoint: train it again"
    listed = ", ".join(p.name for p in others)
    return (
        f"point ckpt_path at another in {folder} ({listed}; {run_files.LAST_CHECKPOINT} is the "
        "last epoch, not the best on val)"
    )


def _load_classifier(checkpoint: Path, cfg: DictConfig, num_classes: int) -> ThermalClassifier:
    """Weights only (no pickled code), into the architecture the run's config describes."""
    saved = read_checkpoint(checkpoint, _instead(checkpoint))
    state = saved.get("state_dict") if isinstance(saved, dict) else None
    if not state or not any(key.startswith("model.") for key in state):
        raise PretrainedWeightsError(f"'{checkpoint}' is not a stage-2 classifier checkpoint")
    try:
        encoder = instantiate(cfg.model.encoder, pretrained="none")
    except InstantiationException as error:
        raise PretrainedWeightsError(
            f"'{checkpoint}': its run's model config does not build with this version "
            f"(an older layout?): {str(error).splitlines()[0]}"
        ) from None
    classifier = ThermalClassifier(encoder, num_classes, cfg.model.dropout)
    weights = {
        key.removeprefix("model."): v for key, v in state.items() if key.startswith("model.")
    }
    try:
        classifier.load_state_dict(weights)
    except RuntimeError as error:
        raise PretrainedWeightsError(
            f"'{checkpoint}' does not fit the architecture in its run's config "
            f"({encoder.arch}): {str(error).splitlines()[0]}"
        ) from None
    return classifier


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
    preprocessor = Preprocessor.of_run(run.cfg)
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
    patients = prediction_patients(run.cfg, run.classes.names, source, paths)
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
    cfg: DictConfig, class_names: Sequence[str], source: str | Path, paths: Sequence[Path]
) -> list[str]:
    """Each image's patient id as the run read them (`data.patient_from`; runs older than it
    read file names). The input folder stands where a class folder stood, or, when it holds
    the run's class folders, where data_dir stood; `auto` decides on the input. An image
    whose id cannot be read gets its file stem."""
    root = Path(source).expanduser()
    root = root.parent if root.is_file() else root

    def base(path: Path) -> Path:
        parts = path.relative_to(root).parts
        return root / parts[0] if len(parts) > 1 and parts[0] in class_names else root

    images = [(base(path), path) for path in paths]
    found = patient_source(cfg.data.get("patient_from", "filename"), images)
    pattern = compile_patient_regex(cfg.data.patient_regex)
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
