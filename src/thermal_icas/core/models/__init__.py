"""Encoders, the attention gate and the heads of both training stages."""

from thermal_icas.core.errors import PretrainedWeightsError
from thermal_icas.core.models.attention import SpatialAttentionGate
from thermal_icas.core.models.backbones.resnet import build_resnet
from thermal_icas.core.models.encoder import ThermalEncoder
from thermal_icas.core.models.heads import ProjectionHead, ThermalClassifier

__all__ = [
    "PretrainedWeightsError",
    "ProjectionHead",
    "SpatialAttentionGate",
    "ThermalClassifier",
    "ThermalEncoder",
    "build_resnet",
]
