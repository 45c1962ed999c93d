"""ResNet trunks with ImageNet, local-file or no initialisation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torchvision import models

from thermal_icas.errors import ConfigError, PretrainedWeightsError
from thermal_icas.torch_files import read_checkpoint

BACKBONES: dict[str, tuple[Callable[..., models.ResNet], models.WeightsEnum]] = {
    "resnet18": (models.resnet18, models.ResNet18_Weights.IMAGENET1K_V1),
    "resnet34": (models.resnet34, models.ResNet34_Weights.IMAGENET1K_V1),
    "resnet50": (models.resnet50, models.ResNet50_Weights.IMAGENET1K_V2),
}


def build_resnet(name: str, pretrained: str) -> models.ResNet:
    """Build a torchvision ResNet initialised per `model.pretrained` (none | imagenet | path)."""
    if name not in BACKBONES:
        raise ConfigError(
            f"model.backbone='{name}' is not supported; choose from {list(BACKBONES)}"
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
    return _from_file(factory, name, Path(pretrained).expanduser())


def _from_file(factory: Callable[..., models.ResNet], name: str, path: Path) -> models.ResNet:
    if not path.is_file():
        raise PretrainedWeightsError(
            f"model.pretrained='{path}' is neither 'none', 'imagenet' nor an existing file"
        )
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
