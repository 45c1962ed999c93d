"""Lightning modules, one per training stage, and their metrics."""

from thermal_icas.train.lit.classifier import ClassifierModule
from thermal_icas.train.lit.contrastive import ContrastiveModule

__all__ = ["ClassifierModule", "ContrastiveModule"]
