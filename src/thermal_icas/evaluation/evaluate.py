"""A run's test, as a screening study reports it: per image and per patient, with intervals.

Everything that is chosen (the patient-level threshold, the operating points, the temperature)
is chosen on the val predictions and applied unchanged to test.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

from thermal_icas import run_files
from thermal_icas.errors import ConfigError
from thermal_icas.evaluation.bootstrap import BootstrapSettings
from thermal_icas.evaluation.calibration import (
    CALIBRATIONS,
    apply_calibration,
    calibration_metrics,
    fit_calibration,
    plot_reliability,
)
from thermal_icas.evaluation.patients import Scores, by_patient, check_aggregate, write_patients
from thermal_icas.evaluation.stats import MIN_CLASS_PATIENTS, bootstrap_intervals, delong_interval
from thermal_icas.evaluation.thresholds import threshold_for, youden_threshold

OPERATING_TARGETS = ("specificity", "sensitivity")
# what a site's name keeps in a metric key
SITE_KEY = re.compile(r"[^A-Za-z0-9_.-]+")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalSettings:
    """`eval.*`: how test predictions become reported numbers (see conf/eval/default.yaml)."""

    aggregate: str = "mean"
    n_bootstrap: int = 2000
    ci_level: float = 0.95
    seed: int = 0
    operating_points: Mapping[str, float] = field(
        default_factory=lambda: {"specificity": 0.8, "sensitivity": 0.9}
    )
    calibrate: str = "prior"
    calibration_bins: int = 10

    def __post_init__(self) -> None:
        check_aggregate(self.aggregate)
        if isinstance(self.calibrate, bool):  # the older true/false: temperature or nothing
            object.__setattr__(self, "calibrate", "temperature" if self.calibrate else "none")
        if self.calibrate not in CALIBRATIONS:
            raise ConfigError(f"eval.calibrate='{self.calibrate}' must be one of {CALIBRATIONS}")
        if not 0 < self.ci_level < 1:
            raise ConfigError(f"eval.ci_level={self.ci_level} must lie in (0, 1)")
        if self.n_bootstrap < 100:
            raise ConfigError(f"eval.n_bootstrap={self.n_bootstrap} must be at least 100")
        for target, value in self.operating_points.items():
            if target not in OPERATING_TARGETS or not 0 < value < 1:
                raise ConfigError(
                    f"eval.operating_points.{target}={value}: keys must be among "
                    f"{OPERATING_TARGETS}, values in (0, 1)"
                )

    @property
    def bootstrap(self) -> BootstrapSettings:
        return BootstrapSettings(self.n_bootstrap, self.ci_level, self.seed)


def evaluate(
    val: Scores,
    test: Scores,
    image_threshold: float,
    settings: EvalSettings,
    output_dir: Path,
    class_names: tuple[str, str],
    prior_shift: float = 0.0,
    sites: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """Intervals of the image-level test metrics, the patient-level metrics (and per site,
    given each patient's in `sites`), operating points and calibration; writes
    test_patients.csv and reliability.png into `output_dir`. `class_names` are (negative,
    positive); `prior_shift` is log(w_pos / w_neg) of the class weights the model was trained
    with (0 without weights)."""
    metrics = _with_intervals("test/", test, image_threshold, settings)
    levels = {"test/": (val, test)}
    if settings.aggregate != "none":
        val_patients = by_patient(val, settings.aggregate)
        patients = by_patient(test, settings.aggregate)
        threshold = youden_threshold(val_patients.scores, val_patients.labels)
        write_patients(output_dir / run_files.TEST_PATIENTS, patients, threshold, class_names)
        metrics["val/patient/auroc"] = _auroc(val_patients)
        metrics.update(_patient_metrics(patients, threshold))
        metrics.update(_with_intervals("test/patient/", patients, threshold, settings))
        low, high = delong_interval(patients.scores, patients.labels, settings.ci_level)
        metrics["test/patient/auroc_delong_ci_low"] = low
        metrics["test/patient/auroc_delong_ci_high"] = high
        levels["test/patient/"] = (val_patients, patients)
        metrics.update(site_metrics(patients, sites or {}, threshold, settings))
        _warn_if_small(patients)
    # operating points are set where the screening decision is made: per patient, unless none
    prefix, (decided_val, decided_test) = list(levels.items())[-1]
    metrics.update(_operating_points(decided_val, decided_test, prefix, settings))
    metrics.update(_calibration(levels, settings, output_dir, prior_shift))
    return metrics


def site_metrics(
    patients: Scores, sites: Mapping[str, str], threshold: float, settings: EvalSettings
) -> dict[str, float]:
    """`test/site/<site>/patient/*`: the patient metrics within each site, at the threshold
    chosen on val, with patient bootstrap intervals; a site with one class gets its counts."""
    named = np.array([sites.get(patient, "") for patient in patients.patients])
    metrics: dict[str, float] = {}
    for site in sorted(set(named) - {""}):
        chosen = named == site
        part = Scores(
            patients.patients[chosen],
            patients.labels[chosen],
            patients.scores[chosen],
            patients.n_images[chosen],
        )
        prefix = f"test/site/{SITE_KEY.sub('_', site)}/patient/"
        if len(np.unique(part.labels)) < 2:
            metrics[f"{prefix}n"], metrics[f"{prefix}n_positive"] = len(part), part.labels.sum()
            continue
        metrics.update(_patient_metrics(part, threshold, prefix))
        metrics.update(_with_intervals(prefix, part, threshold, settings))
    return {key: float(value) for key, value in metrics.items()}


def _warn_if_small(patients: Scores) -> None:
    """Below MIN_CLASS_PATIENTS per class the intervals' coverage was not shown to be 95% (in
    simulation it was higher: many small splits are perfectly separated): say so."""
    n_pos = int(patients.labels.sum())
    smaller = min(n_pos, len(patients) - n_pos)
    if smaller < MIN_CLASS_PATIENTS:
        log.warning(
            "the test split has %d positive and %d negative patients: with fewer than %d in a "
            "class, the 95%% intervals are approximate",
            n_pos,
            len(patients) - n_pos,
            MIN_CLASS_PATIENTS,
        )


def _auroc(scores: Scores) -> float:
    if len(np.unique(scores.labels)) < 2:
        return float("nan")
    return float(roc_auc_score(scores.labels, scores.scores))


def _patient_metrics(
    patients: Scores, threshold: float, prefix: str = "test/patient/"
) -> dict[str, float]:
    predicted = patients.scores > threshold
    positive = patients.labels == 1
    sensitivity = float((predicted & positive).sum() / max(positive.sum(), 1))
    specificity = float((~predicted & ~positive).sum() / max((~positive).sum(), 1))
    auprc = average_precision_score(patients.labels, patients.scores) if positive.any() else 0.0
    return {
        f"{prefix}auroc": _auroc(patients),
        f"{prefix}auprc": float(auprc),
        f"{prefix}sensitivity": sensitivity,
        f"{prefix}specificity": specificity,
        f"{prefix}balanced_acc": (sensitivity + specificity) / 2,
        f"{prefix}f1": float(f1_score(patients.labels, predicted, zero_division=0)),
        f"{prefix}threshold": threshold,
        f"{prefix}n": float(len(patients)),
        f"{prefix}n_positive": float(positive.sum()),
    }


def _with_intervals(
    prefix: str, scores: Scores, threshold: float, settings: EvalSettings
) -> dict[str, float]:
    """`<prefix><metric>_ci_low/high` from the patient bootstrap, for images or patients."""
    intervals = bootstrap_intervals(
        scores.scores, scores.labels, scores.patients, threshold, settings.bootstrap
    )
    return {
        f"{prefix}{name}_ci_{side}": value
        for name, interval in intervals.items()
        for side, value in zip(("low", "high"), interval, strict=True)
    }


def _operating_points(
    val: Scores, test: Scores, prefix: str, settings: EvalSettings
) -> dict[str, float]:
    """Sensitivity at a fixed specificity (and the reverse), the cut chosen on val."""
    metrics = {}
    for target, value in settings.operating_points.items():
        threshold = threshold_for(val.scores, val.labels, target, value)
        name = f"{prefix}at_{target}_{value:g}/"
        predicted = test.scores > threshold
        positive = test.labels == 1
        metrics[f"{name}threshold"] = threshold
        metrics[f"{name}sensitivity"] = float((predicted & positive).sum() / max(positive.sum(), 1))
        metrics[f"{name}specificity"] = float(
            (~predicted & ~positive).sum() / max((~positive).sum(), 1)
        )
        intervals = bootstrap_intervals(
            test.scores, test.labels, test.patients, threshold, settings.bootstrap, ranking=False
        )
        for rate, (low, high) in intervals.items():
            metrics[f"{name}{rate}_ci_low"] = low
            metrics[f"{name}{rate}_ci_high"] = high
    return metrics


def _calibration(
    levels: Mapping[str, tuple[Scores, Scores]],
    settings: EvalSettings,
    output_dir: Path,
    prior_shift: float,
) -> dict[str, float]:
    """Brier, ECE, calibration slope and intercept per level; unless `eval.calibrate=none`,
    also after the recalibration (fitted on that level's val scores where it is fitted)."""
    bins = settings.calibration_bins
    metrics = {}
    curves = {}
    for prefix, (val, test) in levels.items():
        name = "patients" if "patient" in prefix else "images"
        curves[name] = (test.scores, test.labels)
        for key, value in calibration_metrics(test.scores, test.labels, bins).items():
            metrics[f"{prefix}{key}"] = value
        if settings.calibrate == "none":
            continue
        intercept, slope = fit_calibration(settings.calibrate, val.scores, val.labels, prior_shift)
        calibrated = apply_calibration(test.scores, intercept, slope)
        metrics[f"{prefix}calibrated/intercept"] = intercept
        metrics[f"{prefix}calibrated/slope"] = slope
        if settings.calibrate == "temperature":
            metrics[f"{prefix}calibrated/temperature"] = 1 / slope
        for key, value in calibration_metrics(calibrated, test.labels, bins).items():
            metrics[f"{prefix}calibrated/{key}"] = value
        curves[f"{name}, {settings.calibrate}"] = (calibrated, test.labels)
    plot_reliability(curves, bins, output_dir / run_files.RELIABILITY)
    return metrics
