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

from thermal_icas.core import run_files
from thermal_icas.core.evaluation.calibration import apply_calibration, calibration_metrics
from thermal_icas.core.evaluation.choice import Chosen, choose
from thermal_icas.core.evaluation.metrics import METRICS, point_values
from thermal_icas.core.evaluation.patients import Scores, by_patient, write_patients
from thermal_icas.core.evaluation.settings import EvalSettings
from thermal_icas.core.evaluation.stats import (
    MIN_CLASS_PATIENTS,
    bootstrap_intervals,
    delong_interval,
)

# what a site's name keeps in a metric key
SITE_KEY = re.compile(r"[^A-Za-z0-9_.-]+")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tested:
    """A test's metrics, and its reliability curves (name -> (probabilities, labels), raw and
    recalibrated, per level) for whoever draws them (`reporting.plots.plot_reliability`)."""

    metrics: dict[str, float]
    reliability: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def evaluate(
    val: Scores,
    test: Scores,
    image_threshold: float,
    settings: EvalSettings,
    output_dir: Path,
    class_names: tuple[str, str],
    prior_shift: float = 0.0,
    sites: Mapping[str, str] | None = None,
) -> Tested:
    """`measure` the test split with what the val split `choose`s."""
    chosen = choose(val, image_threshold, settings, prior_shift)
    return measure(test, chosen, settings, output_dir, class_names, sites)


def measure(
    test: Scores,
    chosen: Chosen,
    settings: EvalSettings,
    output_dir: Path,
    class_names: tuple[str, str],
    sites: Mapping[str, str] | None = None,
    probabilities: bool = True,
) -> Tested:
    """Intervals of the image-level test metrics, the patient-level metrics (and per site,
    given each patient's in `sites`), operating points and calibration, at the `chosen`
    thresholds; writes test_patients.csv into `output_dir`.
    `class_names` are (negative, positive). Scores that are not `probabilities` (a rule's
    temperature difference) have no calibration to measure."""
    metrics = _with_intervals("test/", test, chosen.image_threshold, settings)
    levels = {"test/": test}
    if settings.aggregate != "none" and chosen.patient_threshold is not None:
        patients = by_patient(test, settings.aggregate)
        threshold = chosen.patient_threshold
        write_patients(output_dir / run_files.TEST_PATIENTS, patients, threshold, class_names)
        metrics["val/patient/auroc"] = chosen.val_patient_auroc
        metrics.update(_patient_metrics(patients, threshold))
        metrics.update(_with_intervals("test/patient/", patients, threshold, settings))
        low, high = delong_interval(patients.scores, patients.labels, settings.ci_level)
        metrics["test/patient/auroc_delong_ci_low"] = low
        metrics["test/patient/auroc_delong_ci_high"] = high
        levels["test/patient/"] = patients
        metrics.update(site_metrics(patients, sites or {}, threshold, settings))
        _warn_if_small(patients)
    prefix, decided = list(levels.items())[-1]
    metrics.update(_operating_points(decided, chosen, prefix, settings))
    if not probabilities:
        return Tested(metrics)
    calibration, curves = _calibration(levels, chosen, settings)
    metrics.update(calibration)
    return Tested(metrics, curves)


def site_metrics(
    patients: Scores, sites: Mapping[str, str], threshold: float, settings: EvalSettings
) -> dict[str, float]:
    """`test/site/<site>/patient/*`: the patient metrics within each site, at the threshold
    chosen on val, with patient bootstrap intervals; a site with one class gets its counts."""
    named = np.array([sites.get(patient, "") for patient in patients.patients])
    metrics: dict[str, float] = {}
    for site in sorted(set(named) - {""}):
        chosen = named == site
        part = patients.subset(chosen)
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


def _patient_metrics(
    patients: Scores, threshold: float, prefix: str = "test/patient/"
) -> dict[str, float]:
    values = point_values(patients.scores, patients.labels, threshold, patients=True)
    return {
        **{f"{prefix}{name}": value for name, value in values.items()},
        f"{prefix}threshold": threshold,
        f"{prefix}n": float(len(patients)),
        f"{prefix}n_positive": float((patients.labels == 1).sum()),
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
    test: Scores, chosen: Chosen, prefix: str, settings: EvalSettings
) -> dict[str, float]:
    """Sensitivity at a fixed specificity (and the reverse), the cut chosen on val."""
    metrics = {}
    for name, threshold in chosen.operating.items():
        if not name.startswith(prefix):
            continue
        predicted = test.scores > threshold
        metrics[f"{name}threshold"] = threshold
        for rate in ("sensitivity", "specificity"):
            value = METRICS[rate].point(test.scores, test.labels, predicted)
            metrics[f"{name}{rate}"] = value
        intervals = bootstrap_intervals(
            test.scores, test.labels, test.patients, threshold, settings.bootstrap, ranking=False
        )
        for rate, (low, high) in intervals.items():
            metrics[f"{name}{rate}_ci_low"] = low
            metrics[f"{name}{rate}_ci_high"] = high
    return metrics


def _calibration(
    levels: Mapping[str, Scores], chosen: Chosen, settings: EvalSettings
) -> tuple[dict[str, float], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Brier, ECE, calibration slope and intercept per level; where a recalibration was
    chosen (unless `eval.calibrate=none`), also after it; and the reliability curves."""
    bins = settings.calibration_bins
    metrics = {}
    curves = {}
    for prefix, test in levels.items():
        name = "patients" if "patient" in prefix else "images"
        curves[name] = (test.scores, test.labels)
        for key, value in calibration_metrics(test.scores, test.labels, bins).items():
            metrics[f"{prefix}{key}"] = value
        if prefix not in chosen.calibration:
            continue
        intercept, slope = chosen.calibration[prefix]
        calibrated = apply_calibration(test.scores, intercept, slope)
        metrics[f"{prefix}calibrated/intercept"] = intercept
        metrics[f"{prefix}calibrated/slope"] = slope
        if settings.calibrate == "temperature":
            metrics[f"{prefix}calibrated/temperature"] = 1 / slope
        for key, value in calibration_metrics(calibrated, test.labels, bins).items():
            metrics[f"{prefix}calibrated/{key}"] = value
        curves[f"{name}, {settings.calibrate}"] = (calibrated, test.labels)
    return metrics, curves


def image_metrics(test: Scores, threshold: float) -> dict[str, float]:
    """What the image arms' test pass logs (`lit.metrics`), from scores alone: for the
    clinical arm and an external cohort, which have no test pass."""
    predicted, positive = test.scores > threshold, test.labels == 1
    counts = {
        "tp": predicted & positive,
        "fn": ~predicted & positive,
        "fp": predicted & ~positive,
        "tn": ~predicted & ~positive,
    }
    values = point_values(test.scores, test.labels, threshold, patients=False)
    return {
        **{f"test/{name}": value for name, value in values.items()},
        **{f"test/{name}": float(chosen.sum()) for name, chosen in counts.items()},
        "test/threshold": threshold,
    }
