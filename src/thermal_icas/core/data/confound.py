"""Can the label be told from how the images were captured? A patient-level, cross-validated
model on the acquisition properties alone (`data/acquisition.py`): if it scores well, cases and
controls differ in camera, export or setting, and an image model can score that instead of the
face. The mask and the shortcut alarm cannot see it when the difference is inside the face.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from thermal_icas.core.data.acquisition import CATEGORICAL, NUMERIC, Properties, PropertyCache
from thermal_icas.core.data.imageio import Look, load_rgb
from thermal_icas.core.data.records import ImageRecord
from thermal_icas.core.errors import ConfigError, DatasetError
from thermal_icas.core.evaluation.bootstrap import NAN_INTERVAL, BootstrapSettings, Interval
from thermal_icas.core.evaluation.metrics import auroc
from thermal_icas.core.evaluation.stats import bootstrap_intervals

log = logging.getLogger(__name__)

ON_CONFOUND = ("warn", "error")
# the alarm: the interval's lower end above this says the classes were captured differently
ALARM_LOW = 0.6
FOLDS = 5
# the properties the report lists, those that tell the classes apart best first
LISTED = 8


@dataclass(frozen=True)
class Difference:
    """One patient-level property: how well it alone ranks the classes, and its class means
    (for a categorical property, the share of images with that value)."""

    name: str
    auroc: float
    negative_mean: float
    positive_mean: float


@dataclass(frozen=True)
class AcquisitionAudit:
    auroc: float
    interval: Interval
    n_patients: int
    differences: tuple[Difference, ...]

    @property
    def alarm(self) -> bool:
        return self.interval[0] > ALARM_LOW

    def metrics(self) -> dict[str, float]:
        return {
            "data/acquisition_auroc": self.auroc,
            "data/acquisition_auroc_ci_low": self.interval[0],
            "data/acquisition_auroc_ci_high": self.interval[1],
        }

    def message(self) -> str:
        low, high = self.interval
        named = ", ".join(f"{d.name} ({d.auroc:.2f})" for d in self.differences[:3])
        return (
            f"ACQUISITION ALARM: the label can be told from how the images were captured alone "
            f"(patient AUROC {self.auroc:.3f} [{low:.3f}, {high:.3f}] from size, format, camera, "
            f"palette, background; most telling: {named}): the classes differ in how they were "
            "captured, so a model can score the camera, not the face"
        )


def patient_table(
    properties: Sequence[Properties], patients: Sequence[str]
) -> tuple[list[str], list[str], np.ndarray]:
    """Patients (sorted), column names and the (patients, columns) means of their images: a
    numeric property's mean, a categorical value's share."""
    ids = sorted(set(patients))
    row = {patient: i for i, patient in enumerate(ids)}
    values = {name: sorted({str(p[name]) for p in properties}) for name in CATEGORICAL}
    columns = [*NUMERIC, *(f"{name}={v}" for name in CATEGORICAL for v in values[name])]
    image = np.array(
        [
            [float(p[name]) for name in NUMERIC]
            + [float(str(p[name]) == v) for name in CATEGORICAL for v in values[name]]
            for p in properties
        ]
    ).reshape(len(properties), len(columns))
    sums, counts = np.zeros((len(ids), len(columns))), np.zeros((len(ids), len(columns)))
    index = np.array([row[p] for p in patients])
    np.add.at(sums, index, np.nan_to_num(image))
    np.add.at(counts, index, ~np.isnan(image))
    with np.errstate(invalid="ignore", divide="ignore"):
        return ids, columns, sums / counts


def audit(
    properties: Sequence[Properties],
    patients: Sequence[str],
    labels: Sequence[int],
    seed: int,
    n_resamples: int = 2000,
) -> AcquisitionAudit:
    """Out-of-fold patient scores of a logistic model on the properties, and their AUROC with
    a patient bootstrap interval; nan when no property varies or a class is too small."""
    ids, columns, table = patient_table(properties, patients)
    label_of = dict(zip(patients, labels, strict=True))
    y = np.array([int(label_of[p]) for p in ids])
    varying = [j for j in range(len(columns)) if _varies(table[:, j])]
    folds = min(FOLDS, int(np.bincount(y, minlength=2).min()))
    if not varying or folds < 2:
        return AcquisitionAudit(float("nan"), NAN_INTERVAL, len(ids), ())
    x = table[:, varying]
    model = make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=1000),
    )
    split = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(model, x, y, cv=split, method="predict_proba")[:, 1]
    settings = BootstrapSettings(n_resamples=n_resamples, seed=seed)
    interval = bootstrap_intervals(scores, y, np.array(ids), 0.5, settings)["auroc"]
    differences = [_difference(columns[j], table[:, j], y) for j in varying]
    differences.sort(key=lambda d: -abs(d.auroc - 0.5))
    return AcquisitionAudit(auroc(scores, y), interval, len(ids), tuple(differences))


def _varies(column: np.ndarray) -> bool:
    return np.unique(column[~np.isnan(column)]).size > 1


def _difference(name: str, column: np.ndarray, y: np.ndarray) -> Difference:
    present = ~np.isnan(column)
    column, y = column[present], y[present]
    separation = auroc(column, y)
    return Difference(name, separation, float(column[y == 0].mean()), float(column[y == 1].mean()))


def check_setting(on_confound: str) -> str:
    if on_confound not in ON_CONFOUND:
        raise ConfigError(f"data.on_confound='{on_confound}' must be one of {list(ON_CONFOUND)}")
    return on_confound


def audit_rows(
    rows: Sequence[tuple[ImageRecord, str]],
    cache_dir: Path,
    seed: int,
    look: Look = load_rgb,
    look_key: str = "",
) -> AcquisitionAudit:
    """The audit of a run's images, every split, their pixels as they `look` (properties cached
    under `cache_dir`)."""
    properties = PropertyCache(cache_dir / "acquisition", look, look_key)
    records = [record for record, _ in rows]
    found = [properties(record.path) for record in records]
    return audit(found, [r.patient for r in records], [r.label for r in records], seed)


def check(result: AcquisitionAudit, on_confound: str) -> None:
    """Log the audit; its alarm is a loud warning, or with `on_confound=error` stops the run."""
    low, high = result.interval
    log.info(
        "Acquisition audit (%d patients): the label from the capture properties alone, patient "
        "AUROC %.3f [%.3f, %.3f]",
        result.n_patients,
        result.auroc,
        low,
        high,
    )
    if not result.alarm:
        return
    if on_confound == "error":
        raise DatasetError(f"{result.message()} (data.on_confound=error)")
    log.warning(result.message())


def write_differences(path: Path, result: AcquisitionAudit, names: tuple[str, str]) -> None:
    """`acquisition.csv`: each property's AUROC alone and its mean per class (negative class
    first), the most telling first."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["property", "auroc", f"mean_{names[0]}", f"mean_{names[1]}"])
        for d in result.differences:
            values = (d.auroc, d.negative_mean, d.positive_mean)
            writer.writerow([d.name, *(f"{v:.6g}" for v in values)])
