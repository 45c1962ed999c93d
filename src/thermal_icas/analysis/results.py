"""Files that carry a run's numbers: metrics.json and per-image test predictions."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from thermal_icas.analysis.plots import plot_confusion, plot_roc
from thermal_icas.core import run_files
from thermal_icas.core.asymmetry import side_label
from thermal_icas.core.data.classes import ClassInfo
from thermal_icas.core.data.records import ImageRecord
from thermal_icas.core.evaluation.patients import Scores


def write_metrics(path: Path, metrics: Mapping[str, float]) -> None:
    path.write_text(json.dumps(dict(sorted(metrics.items())), indent=2) + "\n")


def write_predictions(
    path: Path,
    records: Sequence[ImageRecord],
    probs: Sequence[float],
    threshold: float,
    classes: ClassInfo,
    sides: Sequence[float] | None = None,
) -> None:
    """One row per test image, so errors can be traced back to patients and files; for the
    asymmetry arms with the side the model blames (`side`, `side_score`)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        extra = ["side", "side_score"] if sides is not None else []
        writer.writerow(["path", "patient", "label", "prob_positive", "predicted", *extra])
        for k, (record, prob) in enumerate(zip(records, probs, strict=True)):
            predicted = classes.predicted(prob, threshold)
            side = [side_label(sides[k]), f"{sides[k]:.6f}"] if sides is not None else []
            label = classes.names[record.label]
            writer.writerow([record.path, record.patient, label, f"{prob:.6f}", predicted, *side])


def write_test_files(
    output_dir: Path,
    records: Sequence[ImageRecord],
    test: Scores,
    threshold: float,
    classes: ClassInfo,
    metrics: Mapping[str, float],
) -> None:
    """The files an image arm's test callbacks write, from scores alone: predictions, ROC,
    confusion matrix (`records` in the order of `test`)."""
    path = output_dir / run_files.TEST_PREDICTIONS
    write_predictions(path, records, test.scores.tolist(), threshold, classes)
    scores, targets = torch.as_tensor(test.scores), torch.as_tensor(test.labels)
    plot_roc(scores, targets, metrics["test/auroc"], threshold, output_dir / run_files.ROC)
    tp, fn, fp, tn = (int(metrics[f"test/{key}"]) for key in ("tp", "fn", "fp", "tn"))
    names = [classes.positive, classes.negative]
    plot_confusion([[tp, fn], [fp, tn]], names, output_dir / run_files.CONFUSION)
