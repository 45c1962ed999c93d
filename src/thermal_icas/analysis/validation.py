"""External validation: a finished run on a new labelled cohort, nothing fitted again.

The run's own preprocessing, its classifier and every choice its val split made (the image
and patient thresholds, the operating points, the recalibration) are applied unchanged; the
new cohort's patients get the metrics a run's test split gets, with intervals, calibration and
the shortcut check, in a folder with its own report. `recalibrate` > 0 refits the calibration
on that share of the new patients and reports on the rest. The capture audit says how the new
images differ from the training ones (another camera or export is the usual reason a model
travels badly).
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from thermal_icas.analysis.html_report import write_report
from thermal_icas.analysis.inference import Scored, refuse_unusable, score_images
from thermal_icas.analysis.plots import plot_reliability
from thermal_icas.analysis.results import write_metrics, write_test_files
from thermal_icas.analysis.trained_run import TrainedRun
from thermal_icas.core import run_files
from thermal_icas.core.data.acquisition import PropertyCache
from thermal_icas.core.data.classes import ClassInfo, words
from thermal_icas.core.data.confound import audit, write_differences
from thermal_icas.core.data.datasets import CachedImageDataset
from thermal_icas.core.data.records import ImageRecord, find_class_dirs, scan_folder
from thermal_icas.core.data.splits import write_splits
from thermal_icas.core.errors import ConfigError, DatasetError
from thermal_icas.core.evaluation import EvalSettings, Scores
from thermal_icas.core.evaluation.calibration import fit_calibration
from thermal_icas.core.evaluation.choice import Chosen
from thermal_icas.core.evaluation.evaluate import image_metrics, measure
from thermal_icas.core.evaluation.patients import by_patient
from thermal_icas.core.explain.shortcut import mean_background_effect
from thermal_icas.core.run_files import RELIABILITY

log = logging.getLogger(__name__)


def external_classes(run: TrainedRun, data_dir: Path) -> tuple[ClassInfo, list[int]]:
    """The new folder's classes, each matched to one of the run's by name (up to case and
    separators: `ICAS/` is the run's `icas/`), and the run's class index of each."""
    names = find_class_dirs(data_dir)
    matched = [
        next((i for i, known in enumerate(run.classes.names) if words(known) == words(name)), -1)
        for name in names
    ]
    if sorted(matched) != list(range(len(run.classes.names))):
        raise DatasetError(
            f"'{data_dir}' has the classes {names}; the run was trained on "
            f"{list(run.classes.names)}: name the folders alike"
        )
    positive = names[matched.index(run.classes.positive_index)]
    return ClassInfo(tuple(names), positive), matched


def validate(
    run: TrainedRun,
    data_dir: str | Path,
    output_dir: Path,
    batch_size: int = 64,
    recalibrate: float = 0.0,
    cache_dir: Path | None = None,
    patients: set[str] | None = None,
) -> dict[str, float]:
    """Score the labelled folder `data_dir` with `run` (only the images of `patients`, if
    given); writes metrics.json, the test files, splits.csv, capture_shift.csv and report.html
    into `output_dir`."""
    root = Path(data_dir).expanduser()
    classes, matched = external_classes(run, root)
    data = run.cfg.data
    records = scan_folder(root, classes, data.patient_regex, data.get("patient_from", "filename"))
    if patients is not None:
        records = _of_patients(records, patients, root)
    scored = score_images(run, [Path(r.path) for r in records], batch_size)
    refuse_unusable(scored, root, output_dir)
    kept = [replace(records[i], label=matched[records[i].label]) for i in scored.processed.kept]
    positive = [int(r.label == run.classes.positive_index) for r in kept]
    images = Scores.of_images([r.patient for r in kept], positive, scored.probs)
    settings = run.eval_settings()
    chosen = Chosen.of_run(json.loads((run.directory / run_files.METRICS).read_text()))
    if recalibrate > 0:
        images, chosen = _recalibrated(images, chosen, settings, recalibrate)
    output_dir.mkdir(parents=True, exist_ok=True)
    names = (run.classes.negative, run.classes.positive)
    metrics = image_metrics(images, chosen.image_threshold)
    result = measure(images, chosen, settings, output_dir, names)
    metrics.update(result.metrics)
    plot_reliability(result.reliability, settings.calibration_bins, output_dir / RELIABILITY)
    metrics.update(_background_effect(run, scored, positive))
    metrics.update(_capture_shift(run, kept, output_dir, cache_dir or output_dir / "cache"))
    metrics["external/images"] = float(len(kept))
    metrics["external/skipped_images"] = float(len(scored.processed.skipped))
    reported = [r for r in kept if r.patient in set(images.patients)]
    write_splits(output_dir / run_files.SPLITS, [(r, "test") for r in reported], run.classes)
    write_test_files(output_dir, reported, images, chosen.image_threshold, run.classes, metrics)
    write_metrics(output_dir / run_files.METRICS, metrics)
    shown = {"task_name": "validate", "data": {"data_dir": str(root)}}
    OmegaConf.save(OmegaConf.merge(run.cfg, shown), output_dir / run_files.VALIDATED_CONFIG)
    log.info("Report: %s", write_report(output_dir))
    return metrics


def _of_patients(records: list[ImageRecord], patients: set[str], root: Path) -> list[ImageRecord]:
    """The images of the wanted patients; the ones `root` lacks are named in the log."""
    kept = [record for record in records if record.patient in patients]
    missing = sorted(patients - {record.patient for record in kept})
    if not kept:
        raise DatasetError(f"'{root}' has no images of the {len(patients)} patients wanted")
    if missing:
        log.warning(
            "'%s' has no images of %d of the %d patients wanted (e.g. '%s')",
            root,
            len(missing),
            len(patients),
            missing[0],
        )
    return kept


def _recalibrated(
    images: Scores, chosen: Chosen, settings: EvalSettings, share: float
) -> tuple[Scores, Chosen]:
    """Platt recalibration (intercept and slope) fitted on `share` of the new patients, drawn
    within each class; the rest, which it never saw, is what gets reported."""
    if not 0 < share < 1:
        raise ConfigError(
            f"recalibrate={share} must lie in [0, 1): the share of patients to fit on"
        )
    patients = by_patient(images, "mean")
    rng = np.random.default_rng(settings.seed)
    fit: list[str] = []
    for label in (0, 1):
        ids = patients.patients[patients.labels == label]
        fit += rng.choice(ids, size=round(share * len(ids)), replace=False).tolist()
    used = np.isin(images.patients, fit)
    part, rest = images.subset(used), images.subset(~used)
    calibration = {"test/": fit_calibration("platt", part.scores, part.labels, 0.0)}
    if settings.aggregate != "none":
        fitted = by_patient(part, settings.aggregate)
        calibration["test/patient/"] = fit_calibration("platt", fitted.scores, fitted.labels, 0.0)
    log.info(
        "recalibrate=%g: Platt fitted on %d of %d new patients; the other %d are reported",
        share,
        len(fit),
        len(patients),
        len(patients) - len(fit),
    )
    return rest, replace(chosen, calibration=calibration)


def _background_effect(run: TrainedRun, scored: Scored, positive: list[int]) -> dict[str, float]:
    """How much the new images' predictions move when their background is removed."""
    processed = scored.processed
    pre = run.preprocessor()
    kept = range(len(positive))
    dataset = CachedImageDataset(
        processed.images, torch.tensor(positive), kept, pre.eval_transform(), 1, processed.faces
    )
    fill = (pre.background() - np.asarray(pre.mean)) / np.asarray(pre.std)
    batches = DataLoader(dataset, batch_size=64)
    return mean_background_effect(run.classifier, batches, fill, run.classes.positive_index)


def _capture_shift(
    run: TrainedRun, external: list[ImageRecord], output_dir: Path, cache_dir: Path
) -> dict[str, float]:
    """The capture audit with the cohort for label: can the new images be told from the
    training ones by size, format, camera, palette and background alone?"""
    with (run.directory / run_files.SPLITS).open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == "train"]
    training = [row for row in rows if Path(row["path"]).is_file()]
    if not training:
        log.warning("The run's training images are not on this machine: no capture comparison")
        return {}
    properties = PropertyCache(cache_dir / "acquisition")
    found = [properties(row["path"]) for row in training] + [properties(r.path) for r in external]
    patients = [f"train:{row['patient']}" for row in training]
    patients += [f"new:{r.patient}" for r in external]
    cohort = [0] * len(training) + [1] * len(external)
    result = audit(found, patients, cohort, seed=0)
    write_differences(output_dir / run_files.CAPTURE_SHIFT, result, ("training", "external"))
    low, high = result.interval
    named = ", ".join(f"{d.name} ({d.auroc:.2f})" for d in result.differences[:3]) or "none"
    log.info(
        "Capture shift: the new images told from the training ones by capture alone, patient "
        "AUROC %.3f [%.3f, %.3f]; most telling: %s (%s)",
        result.auroc,
        low,
        high,
        named,
        run_files.CAPTURE_SHIFT,
    )
    return {
        "external/capture_auroc": result.auroc,
        "external/capture_auroc_ci_low": low,
        "external/capture_auroc_ci_high": high,
    }
