"""Any timm model as a trunk (`model=timm model.name=<name>`): CNNs such as ConvNeXt,
EfficientNet or RegNet, and vision transformers (ViT, DeiT).

The stages are modules named in the model's `feature_info`: the last four feature levels of a
CNN, the ends of four even groups of blocks of a transformer. Their outputs pass through
forward hooks, which hand each map to the encoder's visit (the attention gate, the explanation
capture) and carry the visited map on; the model's own forward runs otherwise unchanged.
A transformer's tokens are shown as a (B, C, h, w) map of its patch tokens, its prefix (class)
tokens kept aside, and it is pooled by the mean over the patch tokens, so a gate on any stage
weighs in the features.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import timm
import torch
from timm.models import VisionTransformer, is_model_in_modules, load_state_dict
from torch import Tensor, nn

from thermal_icas.core.errors import ConfigError, PretrainedWeightsError
from thermal_icas.core.models.backbones.base import STAGES, Trunk, Visit, weights_file

TRANSFORMER_MODULES = ("vision_transformer", "deit")


class TimmTrunk(Trunk):
    def __init__(self, model: nn.Module, name: str) -> None:
        super().__init__()
        self.model = model
        self.name = name
        self.transformer = isinstance(model, VisionTransformer)
        picked = _stage_levels(model.feature_info, name)
        levels = dict(zip(STAGES, picked, strict=True))
        self.modules_of = {stage: level["module"] for stage, level in levels.items()}
        self.channels = {stage: level["num_chs"] for stage, level in levels.items()}
        self.reductions = {stage: level["reduction"] for stage, level in levels.items()}
        self.width = model.embed_dim if self.transformer else model.num_features
        config = model.pretrained_cfg
        self.mean, self.std = tuple(config["mean"]), tuple(config["std"])
        self._first_conv = config["first_conv"]
        self._visit: Visit | None = None
        self._grid: tuple[int, int] = (0, 0)
        for stage, module in self.modules_of.items():
            model.get_submodule(module).register_forward_hook(partial(self._on_stage, stage))

    def forward(self, images: Tensor, visit: Visit | None = None) -> Tensor:
        self._visit = visit
        try:
            if not self.transformer:
                return self.model(images)
            self._grid = tuple(self.model.patch_embed.dynamic_feat_size(images.shape[-2:]))
            tokens = self.model.forward_features(images)
            return tokens[:, self.model.num_prefix_tokens :].mean(1)
        finally:
            self._visit = None

    def stage(self, name: str) -> nn.Module:
        return self.model.get_submodule(self.modules_of[name])

    def widen_stem(self, adapt: Callable[[nn.Conv2d], nn.Conv2d]) -> None:
        stem = self.model.get_submodule(self._first_conv)
        self.model.set_submodule(self._first_conv, adapt(stem))

    def _on_stage(
        self, stage: str, module: nn.Module, inputs: object, output: Tensor
    ) -> Tensor | None:
        """The forward hook of a stage's module (a bound method, so a copied trunk's hooks
        call the copy): the visited map carried on, or None (the output unchanged)."""
        if self._visit is None:
            return None
        if not self.transformer:
            return self._visit(stage, self._as_map(stage, output))
        prefix = self.model.num_prefix_tokens
        patches = output[:, prefix:].transpose(1, 2).unflatten(2, self._grid)
        visited = self._visit(stage, patches)
        return torch.cat([output[:, :prefix], visited.flatten(2).transpose(1, 2)], dim=1)

    def _as_map(self, stage: str, output: Tensor) -> Tensor:
        if output.dim() != 4 or output.shape[1] != self.channels[stage]:
            raise ConfigError(
                f"model.name={self.name}: stage {stage} ({self.modules_of[stage]}) gives a "
                f"{tuple(output.shape)} tensor, not a (B, {self.channels[stage]}, h, w) map; "
                "use a CNN with channels-first features or a VisionTransformer"
            )
        return output


def pretrained_normalization(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    _check_name(name)
    config = timm.get_pretrained_cfg(name)
    return tuple(config.mean), tuple(config.std)


def timm_trunk(name: str, pretrained: str) -> TimmTrunk:
    """`model.name` from timm, initialised per `model.pretrained` (none | imagenet | path)."""
    _check_name(name)
    options = {"num_classes": 0}
    if is_model_in_modules(name, TRANSFORMER_MODULES):
        options["dynamic_img_size"] = True  # any input size, e.g. a half face
    if pretrained == "none":
        return TimmTrunk(timm.create_model(name, pretrained=False, **options), name)
    if pretrained != "imagenet":
        model = timm.create_model(name, pretrained=False, **options)
        _load_file(model, name, weights_file(pretrained))
        return TimmTrunk(model, name)
    try:
        model = timm.create_model(name, pretrained=True, **options)
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        raise PretrainedWeightsError(
            f"model.pretrained=imagenet: cannot load timm's pretrained weights for {name} "
            f"({error}). timm downloads them once into the Hugging Face cache ($HF_HOME); "
            "without internet use model.pretrained=none or model.pretrained=/path/to/weights.pth"
        ) from error
    return TimmTrunk(model, name)


def _load_file(model: nn.Module, name: str, path: Path) -> None:
    """Every weight of the model from the file, which may add a classifier (dropped)."""
    try:
        state = load_state_dict(str(path))
    except (OSError, RuntimeError, KeyError, ValueError) as error:
        raise PretrainedWeightsError(
            f"model.pretrained='{path}' cannot be read: {error}"
        ) from error
    head = model.pretrained_cfg.get("classifier") or "head"
    heads = (head,) if isinstance(head, str) else tuple(head)
    state = {k: v for k, v in state.items() if not k.startswith(tuple(f"{h}." for h in heads))}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as error:
        raise PretrainedWeightsError(
            f"model.pretrained='{path}' does not fit into {name}: {error}"
        ) from error
    if missing or unexpected:
        raise PretrainedWeightsError(
            f"model.pretrained='{path}' does not fit into {name}: {len(missing)} weights "
            f"missing (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )


def _check_name(name: str) -> None:
    if not timm.is_model(name):
        raise ConfigError(
            f"model.name='{name}' is not a timm model; list them with "
            "python -c \"import timm; print(timm.list_models('*convnext*'))\""
        )


def _stage_levels(levels: list[dict], name: str) -> list[dict]:
    """The four feature levels that become layer1..layer4: the last four of a CNN; the ends of
    four even groups of a transformer's blocks, whose levels all share one reduction."""
    if len(levels) < len(STAGES):
        raise ConfigError(
            f"model.name={name} has {len(levels)} feature levels; the trunk needs at least "
            f"{len(STAGES)}"
        )
    if len({level["reduction"] for level in levels}) > 1:
        return list(levels[-len(STAGES) :])
    count = len(levels)
    return [levels[count * (k + 1) // len(STAGES) - 1] for k in range(len(STAGES))]
