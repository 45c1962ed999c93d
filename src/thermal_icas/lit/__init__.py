"""Lightning modules, one per training stage, and their metrics."""

from thermal_icas.lit.classifier import ClassifierModule
from thermal_icas.lit.contrastive import ContrastiveModule

__all__ = ["ClassifierModule", "ContrastiveModule"]
