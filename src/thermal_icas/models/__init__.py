"""Encoders, the attention gate and the heads of both training stages."""

from thermal_icas.errors import PretrainedWeightsError
from thermal_icas.models.attention import SpatialAttentionGate
from thermal_icas.models.backbones.resnet import build_resnet
from thermal_icas.models.encoder import ThermalEncoder
from thermal_icas.models.heads import ProjectionHead, ThermalClassifier

__all__ = [
    "PretrainedWeightsError",
    "ProjectionHead",
    "SpatialAttentionGate",
    "ThermalClassifier",
    "ThermalEncoder",
    "build_resnet",
]
