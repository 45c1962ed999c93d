"""Backbone providers behind one protocol (`Trunk`): torchvision ResNets by name
(`model.backbone=resnet18`), any timm model as `timm:<name>` (`model=timm model.name=<name>`).
A new provider is one module here and one branch in `build_trunk`."""

from __future__ import annotations

from thermal_icas.core.models.backbones.base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    STAGES,
    Trunk,
    Visit,
)
from thermal_icas.core.models.backbones.resnet import resnet_trunk

TIMM_PREFIX = "timm:"


def build_trunk(backbone: str, pretrained: str = "none") -> Trunk:
    """The trunk `model.backbone` names, initialised per `model.pretrained`."""
    if backbone.startswith(TIMM_PREFIX):
        from thermal_icas.core.models.backbones.timm_models import timm_trunk

        return timm_trunk(backbone.removeprefix(TIMM_PREFIX), pretrained)
    return resnet_trunk(backbone, pretrained)


def normalization(backbone: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of the inputs the backbone's pretrained weights expect, read without
    building it: ImageNet's for torchvision, the model's pretrained config for timm."""
    if not backbone.startswith(TIMM_PREFIX):
        return IMAGENET_MEAN, IMAGENET_STD
    from thermal_icas.core.models.backbones.timm_models import pretrained_normalization

    return pretrained_normalization(backbone.removeprefix(TIMM_PREFIX))


__all__ = ["STAGES", "TIMM_PREFIX", "Trunk", "Visit", "build_trunk", "normalization"]
