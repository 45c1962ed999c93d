"""What the val predictions choose (the patient threshold, the operating points, the
recalibration), kept apart from what they are applied to: the test split of the same run, or
an external cohort scored by a finished run, where nothing is chosen again."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from thermal_icas.core.evaluation.calibration import fit_calibration
from thermal_icas.core.evaluation.patients import Scores, auroc, by_patient
from thermal_icas.core.evaluation.settings import EvalSettings
from thermal_icas.core.evaluation.thresholds import threshold_for, youden_threshold

# an operating point's threshold in metrics.json
OPERATING_KEY = re.compile(r"^test/(patient/)?at_[^/]+/threshold$")


@dataclass(frozen=True)
class Chosen:
    """What the val predictions chose, applied unchanged to test or to an external cohort:
    the image and patient thresholds, the operating points' thresholds (by metric prefix) and
    the recalibration (intercept, slope) of each level."""

    image_threshold: float
    patient_threshold: float | None
    operating: Mapping[str, float]
    calibration: Mapping[str, tuple[float, float]]
    val_patient_auroc: float = float("nan")

    @classmethod
    def of_run(cls, metrics: Mapping[str, float]) -> Chosen:
        """A finished run's choices, from its metrics.json."""
        levels = ("test/", "test/patient/")
        return cls(
            metrics["test/threshold"],
            metrics.get("test/patient/threshold"),
            {k[: -len("threshold")]: v for k, v in metrics.items() if OPERATING_KEY.match(k)},
            {
                level: (
                    metrics[f"{level}calibrated/intercept"],
                    metrics[f"{level}calibrated/slope"],
                )
                for level in levels
                if f"{level}calibrated/intercept" in metrics
            },
            metrics.get("val/patient/auroc", float("nan")),
        )


def choose(
    val: Scores, image_threshold: float, settings: EvalSettings, prior_shift: float = 0.0
) -> Chosen:
    """The patient threshold (Youden on val patients), the operating points and the
    recalibration, all from val; `prior_shift` is log(w_pos / w_neg) of the training class
    weights (0 without weights)."""
    levels = {"test/": val}
    patient_threshold, val_auroc = None, float("nan")
    if settings.aggregate != "none":
        levels["test/patient/"] = val_patients = by_patient(val, settings.aggregate)
        patient_threshold = youden_threshold(val_patients.scores, val_patients.labels)
        val_auroc = auroc(val_patients)
    # operating points are set where the screening decision is made: per patient, unless none
    prefix, decided = list(levels.items())[-1]
    operating = {
        f"{prefix}at_{target}_{value:g}/": threshold_for(
            decided.scores, decided.labels, target, value
        )
        for target, value in settings.operating_points.items()
    }
    calibration = {}
    if settings.calibrate != "none":
        calibration = {
            level: fit_calibration(settings.calibrate, scores.scores, scores.labels, prior_shift)
            for level, scores in levels.items()
        }
    return Chosen(image_threshold, patient_threshold, operating, calibration, val_auroc)
