"""A patient-level table alone, no images (`clinical=only`, `features=regions`, or both joined),
on the image arms' own patient splits, so "do the images add anything?" is answered patient by
patient.

A scikit-learn model is fitted on the training patients (one row each), the threshold is chosen
on val as the image arms choose theirs, and the test is scored and reported by the same
`evaluate` (patient bootstrap intervals, operating points, calibration, test_patients.csv). Every
image of a patient carries the patient's score, so the image-level metrics are those of the
patients weighted by their image counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression

from thermal_icas.analysis.plots import plot_reliability
from thermal_icas.analysis.results import write_test_files
from thermal_icas.core.errors import ConfigError
from thermal_icas.core.evaluation import EvalSettings, Scores, evaluate
from thermal_icas.core.evaluation.evaluate import image_metrics
from thermal_icas.core.evaluation.thresholds import youden_threshold
from thermal_icas.core.run_files import RELIABILITY
from thermal_icas.train.datamodule import ThermalData
from thermal_icas.train.tabular.features import Joined, split_patients

log = logging.getLogger(__name__)

# class-balanced, as the image arms' loss is; boosting kept shallow for cohorts of a few
# hundred patients
MODELS: dict[str, Callable[[int], ClassifierMixin]] = {
    "logistic": lambda seed: LogisticRegression(max_iter=5000, class_weight="balanced"),
    "boosting": lambda seed: HistGradientBoostingClassifier(
        max_depth=3, learning_rate=0.05, max_iter=200, class_weight="balanced", random_state=seed
    ),
}


def check_model(name: str, setting: str = "clinical.model") -> None:
    if name not in MODELS:
        raise ConfigError(f"{setting}='{name}' must be one of {', '.join(MODELS)}")


def tabular_only(
    data: ThermalData,
    features: Joined,
    model_name: str,
    seed: int,
    settings: EvalSettings,
    output_dir: Path,
) -> dict[str, float]:
    """Fit `model_name` on the training patients, threshold on val, test; returns the test's
    metrics (and `<kind>/features`, how many columns each table gave)."""
    assert data.classes is not None and data.labels is not None
    check_model(model_name)
    model = MODELS[model_name](seed)
    patients, targets = split_patients(data, "train")
    model.fit(features.transform(patients), targets)
    if isinstance(model, LogisticRegression):
        weights = ", ".join(
            f"{n} {w:+.2f}" for n, w in zip(features.names, model.coef_[0], strict=True)
        )
        log.info("logistic weights per standardised feature: %s", weights)
    val, test = (_image_scores(data, model, features, split) for split in ("val", "test"))
    threshold = youden_threshold(val.scores, val.labels)
    names = (data.classes.negative, data.classes.positive)
    metrics = image_metrics(test, threshold)
    # class_weight="balanced" weighs the training patients' classes inversely to their counts
    prior_shift = float(np.log((targets == 0).sum() / max((targets == 1).sum(), 1)))
    sites = {record.patient: record.site for record in data.records("test")}
    result = evaluate(val, test, threshold, settings, output_dir, names, prior_shift, sites)
    metrics.update(result.metrics)
    plot_reliability(result.reliability, settings.calibration_bins, output_dir / RELIABILITY)
    metrics.update(features.counts())
    write_test_files(output_dir, data.records("test"), test, threshold, data.classes, metrics)
    return metrics


def _image_scores(
    data: ThermalData, model: ClassifierMixin, features: Joined, split: str
) -> Scores:
    patients, _ = split_patients(data, split)
    probs = model.predict_proba(features.transform(patients))[:, 1]
    return broadcast(data, split, dict(zip(patients, probs.tolist(), strict=True)))


def broadcast(data: ThermalData, split: str, by_patient: dict[str, float]) -> Scores:
    """Each image of the split scored with its patient's score."""
    assert data.classes is not None and data.labels is not None
    indices = data.indices(split)
    images = [record.patient for record in data.records_at(indices)]
    targets = (data.labels[indices] == data.classes.positive_index).int().tolist()
    return Scores.of_images(images, targets, [by_patient[p] for p in images])
