"""Honest evaluation: patient-level metrics, intervals from a patient bootstrap, calibration."""

from thermal_icas.core.evaluation.evaluate import evaluate
from thermal_icas.core.evaluation.patients import Scores, by_patient
from thermal_icas.core.evaluation.settings import EvalSettings

__all__ = ["EvalSettings", "Scores", "by_patient", "evaluate"]
