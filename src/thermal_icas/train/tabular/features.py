"""Patient-level tables side by side (the clinical covariates, the regional temperatures), one
row per patient, fitted on the training patients alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import numpy as np
import torch

from thermal_icas.train.datamodule import ThermalData


class PatientFeatures(Protocol):
    """A table fitted on the training patients: `transform` gives (patients, len(names))."""

    @property
    def names(self) -> list[str]: ...

    def transform(self, patients: Sequence[str]) -> np.ndarray: ...


class Joined:
    """Several fitted tables, keyed by kind (`clinical`, `regions`), joined column-wise."""

    def __init__(self, parts: Mapping[str, PatientFeatures]) -> None:
        self.parts = dict(parts)

    @property
    def names(self) -> list[str]:
        return [name for part in self.parts.values() for name in part.names]

    def transform(self, patients: Sequence[str]) -> np.ndarray:
        columns = [part.transform(patients) for part in self.parts.values()]
        return np.hstack(columns).astype(np.float32)

    def counts(self) -> dict[str, float]:
        """`<kind>/features` in metrics.json: how many columns each table gave."""
        return {f"{kind}/features": float(len(part.names)) for kind, part in self.parts.items()}

    def per_image(self, data: ThermalData) -> torch.Tensor:
        """(images, features): each image row of the data carries its patient's features."""
        return torch.from_numpy(self.transform([record.patient for record, _ in data.rows]))


def split_patients(data: ThermalData, split: str) -> tuple[list[str], np.ndarray]:
    """The split's patients in order of first image, with the targets as trained (permuted
    across train and val patients in a null run)."""
    assert data.classes is not None and data.labels is not None
    first: dict[str, int] = {}
    for index in data.indices(split):
        first.setdefault(data.rows[index][0].patient, index)
    labels = data.labels[list(first.values())].numpy()
    return list(first), (labels == data.classes.positive_index).astype(int)
