"""Honest evaluation: patient-level metrics, intervals from a patient bootstrap, calibration."""

from thermal_icas.evaluation.evaluate import EvalSettings, evaluate
from thermal_icas.evaluation.patients import Scores, by_patient

__all__ = ["EvalSettings", "Scores", "by_patient", "evaluate"]
