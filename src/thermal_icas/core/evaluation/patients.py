"""Scores of images and of patients: a screening decision is made per patient, not per image."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from thermal_icas.core.errors import ConfigError
from thermal_icas.core.evaluation import metrics

AGGREGATES = ("mean", "max", "none")
PATIENT_COLUMNS = ("patient", "label", "positive", "n_images", "score", "predicted")


@dataclass(frozen=True)
class Scores:
    """Positive-class scores of samples (images or patients), each with its patient and its
    0/1 target; `n_images` is 1 for an image and the image count for a patient."""

    patients: np.ndarray
    labels: np.ndarray
    scores: np.ndarray
    n_images: np.ndarray

    @classmethod
    def of_images(
        cls, patients: Sequence[str], labels: Sequence[int], scores: Sequence[float]
    ) -> Scores:
        return cls(
            np.asarray(patients, dtype=str),
            np.asarray(labels, dtype=int),
            np.asarray(scores, dtype=float),
            np.ones(len(patients), dtype=int),
        )

    def __len__(self) -> int:
        return len(self.scores)

    def subset(self, chosen: np.ndarray) -> Scores:
        """The samples where the boolean `chosen` is true."""
        return Scores(
            self.patients[chosen], self.labels[chosen], self.scores[chosen], self.n_images[chosen]
        )


def auroc(scores: Scores) -> float:
    """The AUROC of these scores; nan when they hold one class only."""
    return metrics.auroc(scores.scores, scores.labels)


def check_aggregate(how: str) -> None:
    if how not in AGGREGATES:
        raise ConfigError(f"eval.aggregate='{how}' must be one of {AGGREGATES}")


def by_patient(images: Scores, how: str) -> Scores:
    """One score per patient: the mean (default) or the max of its images' probabilities.

    Patients come out sorted by id; a patient's target is its images' (they share one).
    """
    check_aggregate(how)
    ids, member = np.unique(images.patients, return_inverse=True)
    counts = np.bincount(member, minlength=len(ids))
    if how == "max":
        scores = np.full(len(ids), -np.inf)
        np.maximum.at(scores, member, images.scores)
    else:
        scores = np.bincount(member, weights=images.scores, minlength=len(ids)) / counts
    labels = np.zeros(len(ids), dtype=int)
    np.maximum.at(labels, member, images.labels)
    return Scores(ids, labels, scores, counts)


def write_patients(path: Path, patients: Scores, threshold: float, names: tuple[str, str]) -> None:
    """One row per test patient; `names` are the (negative, positive) class names."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(PATIENT_COLUMNS)
        for patient, label, n_images, score in zip(
            patients.patients, patients.labels, patients.n_images, patients.scores, strict=True
        ):
            predicted = names[1] if score > threshold else names[0]
            writer.writerow([patient, names[label], label, n_images, f"{score:.6f}", predicted])


def read_patients(path: Path) -> tuple[Scores, np.ndarray]:
    """A run's test patients and its decisions (True = predicted positive)."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(PATIENT_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"'{path}' lacks the columns {sorted(missing)}")
        rows = list(reader)
    positive = np.array([row["positive"] == "1" for row in rows])
    negative_names = {row["label"] for row in rows if row["positive"] != "1"}
    positive_names = {row["label"] for row in rows if row["positive"] == "1"}
    scores = Scores(
        np.array([row["patient"] for row in rows], dtype=str),
        positive.astype(int),
        np.array([float(row["score"]) for row in rows]),
        np.array([int(row["n_images"]) for row in rows]),
    )
    # two classes: a decision that is not the negative class's name is the positive one
    predicted = np.array(
        [
            row["predicted"] not in negative_names
            if negative_names
            else row["predicted"] in positive_names
            for row in rows
        ]
    )
    return scores, predicted
