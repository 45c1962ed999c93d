"""Files that carry a run's numbers: metrics.json and per-image test predictions."""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from thermal_icas.data.records import ClassInfo, ImageRecord

METRICS_FILE = "metrics.json"


def write_metrics(path: Path, metrics: Mapping[str, float]) -> None:
    path.write_text(json.dumps(dict(sorted(metrics.items())), indent=2) + "\n")


def write_predictions(
    path: Path,
    records: Sequence[ImageRecord],
    probs: Sequence[float],
    threshold: float,
    classes: ClassInfo,
) -> None:
    """One row per test image, so errors can be traced back to patients and files."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "patient", "label", "prob_positive", "predicted"])
        for record, prob in zip(records, probs, strict=True):
            predicted = classes.predicted(prob, threshold)
            writer.writerow(
                [record.path, record.patient, classes.names[record.label], f"{prob:.6f}", predicted]
            )
