"""Honest evaluation: patient-level metrics, intervals from a patient bootstrap, calibration."""

from thermal_icas.evaluation.evaluate import evaluate
from thermal_icas.evaluation.patients import Scores, by_patient
from thermal_icas.evaluation.settings import EvalSettings

__all__ = ["EvalSettings", "Scores", "by_patient", "evaluate"]
