"""torchvision ResNets: the default trunk (`model=resnet`), initialised with no weights, with
torchvision's ImageNet weights or with a local weights file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision import models

from thermal_icas.core.errors import ConfigError, PretrainedWeightsError
from thermal_icas.core.models.backbones.base import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    STAGES,
    Trunk,
    Visit,
    weights_file,
)
from thermal_icas.core.torch_files import read_checkpoint

BACKBONES: dict[str, tuple[Callable[..., models.ResNet], models.WeightsEnum]] = {
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (models.resnet34, models.ResNet34_Weights.IMAGENET1K_V1),
    "resnet50": (models.resnet50, models.ResNet50_Weights.IMAGENET1K_V2),
}


class ResNetTrunk(nn.ModuleDict, Trunk):
    """A ResNet as `stem` (conv1, bn1, relu, maxpool) and `layer1..layer4`; the fc head is
    dropped. Its parameters keep the names they had before other providers existed
    (`stem.0.weight`, `layer3.1.conv2.weight`), so saved encoders load unchanged."""

    def __init__(self, resnet: models.ResNet) -> None:
        super().__init__(
            {
                "stem": nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool),
                **{name: getattr(resnet, name) for name in STAGES},
            }
        )
        self.channels = {name: _out_channels(getattr(resnet, name)) for name in STAGES}
        self.reductions = dict(zip(STAGES, (4, 8, 16, 32), strict=True))
        self.width = resnet.fc.in_features
        self.mean, self.std = IMAGENET_MEAN, IMAGENET_STD

    def forward(self, images: Tensor, visit: Visit | None = None) -> Tensor:
        x = self["stem"](images)
        for name in STAGES:
            x = self[name](x)
            if visit is not None:
                x = visit(name, x)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)

    def stage(self, name: str) -> nn.Module:
        return self[name]

    def widen_stem(self, adapt: Callable[[nn.Conv2d], nn.Conv2d]) -> None:
        self["stem"][0] = adapt(self["stem"][0])


def resnet_trunk(name: str, pretrained: str) -> ResNetTrunk:
    return ResNetTrunk(build_resnet(name, pretrained))


def build_resnet(name: str, pretrained: str) -> models.ResNet:
    """Build a torchvision ResNet initialised per `model.pretrained` (none | imagenet | path)."""
    if name not in BACKBONES:
        raise ConfigError(
            f"model.backbone='{name}' is not supported; choose from {list(BACKBONES)}, or any "
            "timm model with model=timm model.name=<name>"
        )
    factory, weights = BACKBONES[name]
    if pretrained == "none":
        return factory(weights=None)
    if pretrained == "imagenet":
        try:
            return factory(weights=weights)
        except (OSError, RuntimeError) as error:
            raise PretrainedWeightsError(
                f"model.pretrained=imagenet: cannot load torchvision's ImageNet weights for {name} "
                f"({error}). They are downloaded once into the torch hub cache ($TORCH_HOME); "
                "without internet use model.pretrained=none or "
                "model.pretrained=/path/to/weights.pth"
            ) from error
    return _from_file(factory, name, weights_file(pretrained))


def _from_file(factory: Callable[..., models.ResNet], name: str, path: Path) -> models.ResNet:
    state = read_checkpoint(path, "model.pretrained needs a whole weights file")
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    model = factory(weights=None)
    trunk_state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    try:
        missing, _ = model.load_state_dict(trunk_state, strict=False)
    except RuntimeError as error:
        raise PretrainedWeightsError(
            f"model.pretrained='{path}' does not fit {name}: {error}"
        ) from error
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing:
        raise PretrainedWeightsError(
            f"model.pretrained='{path}' lacks {len(missing)} {name} weights, e.g. {missing[:3]}"
        )
    return model


def _out_channels(layer: nn.Sequential) -> int:
    last = layer[-1]
    return int((last.bn3 if hasattr(last, "bn3") else last.bn2).num_features)
