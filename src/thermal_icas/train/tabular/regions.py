"""`features=regions`: the regional temperatures of every image (`core.physiology`), averaged per
patient, as a table beside or instead of the images."""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from thermal_icas.core.errors import ConfigError
from thermal_icas.core.physiology.regions import feature_names, patient_means
from thermal_icas.core.physiology.table import region_table, unit
from thermal_icas.train.datamodule import ThermalData
from thermal_icas.train.tabular.only import check_model

log = logging.getLogger(__name__)

USES = ("only", "fused")
# the per-image table a run leaves beside its metrics
REGIONS_CSV = "regions.csv"


@dataclass(frozen=True)
class Regions:
    """`features=regions` (conf/features/regions.yaml): `use` only (the table alone; with
    clinical=only, joined to the clinical table) or fused (joined to the network's head);
    `model` the scikit-learn model of `only`."""

    use: str = "only"
    model: str = "logistic"

    def __post_init__(self) -> None:
        if self.use not in USES:
            raise ConfigError(f"features.use='{self.use}' must be one of {', '.join(USES)}")
        check_model(self.model, "features.model")

    def features(self, data: ThermalData, output_dir: Path) -> RegionFeatures:
        """Every image's regions, written to regions.csv, averaged per patient and fitted on
        the training patients."""
        table = PatientRegions.of(data, output_dir)
        train = list(dict.fromkeys(record.patient for record in data.records("train")))
        return RegionFeatures(table).fit(train)


@dataclass(frozen=True)
class PatientRegions:
    """Each patient's mean regional values (NaN where none of its images shows a region)."""

    patients: list[str]
    values: np.ndarray
    unit: str

    @classmethod
    def of(cls, data: ThermalData, output_dir: Path | None = None) -> PatientRegions:
        paths = [record.path for record, _ in data.rows]
        rows = region_table(paths, data.reading, data.preprocessor.mask)
        if output_dir is not None:
            write_regions(output_dir / REGIONS_CSV, data, rows)
        patients, values = patient_means([record.patient for record, _ in data.rows], rows)
        return cls(patients, values, unit(data.reading))

    def column(self, name: str, patients: Sequence[str]) -> np.ndarray:
        index = {patient: i for i, patient in enumerate(self.patients)}
        return self.values[[index[p] for p in patients], feature_names().index(name)]


class RegionFeatures:
    """The patients' regional values, median-imputed (regions no image showed) and
    standardised with statistics of the training patients alone."""

    def __init__(self, table: PatientRegions) -> None:
        self.table = table
        self.scaler: Pipeline | None = None

    @property
    def names(self) -> list[str]:
        return feature_names()

    def fit(self, train_patients: Sequence[str]) -> RegionFeatures:
        # keep_empty_features: a region no training patient showed stays a (zero) column
        imputer = SimpleImputer(strategy="median", keep_empty_features=True)
        self.scaler = make_pipeline(imputer, StandardScaler())
        self.scaler.fit(self._rows(train_patients))
        return self

    def transform(self, patients: Sequence[str]) -> np.ndarray:
        if self.scaler is None:
            raise RuntimeError("fit the regional features on the training patients first")
        return self.scaler.transform(self._rows(patients)).astype(np.float32)

    def _rows(self, patients: Sequence[str]) -> np.ndarray:
        index = {patient: i for i, patient in enumerate(self.table.patients)}
        missing = [p for p in patients if p not in index]
        if missing:
            raise ConfigError(f"no regional values for patients {missing[:5]}")
        return self.table.values[[index[p] for p in patients]]


def write_regions(path: Path, data: ThermalData, rows: np.ndarray) -> None:
    """`regions.csv`: one row per image (path, patient, split, then `feature_names`, in the
    run's `unit`; left and right are the image's sides)."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "patient", "split", *feature_names()])
        for (record, split), row in zip(data.rows, rows, strict=True):
            writer.writerow([record.path, record.patient, split, *(f"{v:.4f}" for v in row)])
