"""The encoder shared by both stages: asymmetry input adapter, a trunk from any provider
(`models.backbones`), optional attention gate after one of its stages, pooled features."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor, nn

from thermal_icas.core.asymmetry import Asymmetry, InputAdapter
from thermal_icas.core.errors import ConfigError
from thermal_icas.core.models.attention import Attention
from thermal_icas.core.models.backbones import STAGES, build_trunk

LAYERS = STAGES


@dataclass(frozen=True)
class EncoderOutput:
    features: Tensor  # (B, out_dim), one vector per face
    captured: Tensor | None  # (B', C, h, w): the requested layer's output, part of the graph
    gate: Tensor | None  # (B', 1, h, w): the attention gate, mean 1


class ThermalEncoder(nn.Module):
    """`asymmetry` (None: the whole face through one trunk) decides how the face, centred on
    its midline, reaches the trunk (see `thermal_icas.core.asymmetry.fusion`). With `attention`, a
    gate weights the positions of one stage's output before the rest of the trunk and pooling.
    Both come from their config groups as objects, or None when the lever is off."""

    def __init__(
        self,
        backbone: str = "resnet18",
        pretrained: str = "none",
        asymmetry: Asymmetry | None = None,
        attention: Attention | None = None,
    ) -> None:
        super().__init__()
        self.arch = {
            "backbone": backbone,
            "fusion": asymmetry.fusion if asymmetry else "none",
            "align": asymmetry.align if asymmetry else None,
            "attention": attention is not None,
            "attention_layer": attention.layer if attention else None,
        }
        self.adapter = asymmetry.adapter() if asymmetry else InputAdapter()
        self.trunk = build_trunk(backbone, pretrained)
        self.trunk.widen_stem(self.adapter.first_conv)
        self.attention_layer = attention.layer if attention else None
        self.attention = None
        if attention:
            self.attention = attention.gate(self.trunk.channels[attention.layer])
        self.out_dim = self.adapter.feature_dim(self.trunk.width)

    def forward_maps(self, faces: Tensor, capture: str | None = None) -> EncoderOutput:
        """Features, plus the output of stage `capture` (after the gate, if it sits there)."""
        if capture is not None and capture not in LAYERS:
            raise ConfigError(f"explain.layer='{capture}' must be one of {LAYERS}")
        found: dict[str, Tensor] = {}

        def visit(name: str, x: Tensor) -> Tensor:
            if name == self.attention_layer:
                assert self.attention is not None
                x, found["gate"] = self.attention(x)
            if name == capture:
                found["captured"] = x
            return x

        needed = capture is not None or self.attention is not None
        pooled = self.trunk(self.adapter.split(faces), visit if needed else None)
        return EncoderOutput(self.adapter.combine(pooled), found.get("captured"), found.get("gate"))

    def forward(self, faces: Tensor) -> Tensor:
        return self.forward_maps(faces).features


RESNET_REDUCTIONS = dict(zip(LAYERS, (4, 8, 16, 32), strict=True))


def explain_layer(
    setting: str,
    image_size: int,
    reductions: Mapping[str, int] = RESNET_REDUCTIONS,
    min_side: int = 6,
) -> str:
    """`explain.layer`, with `auto` = the deepest stage whose map over the face is at least
    `min_side` positions a side (fine enough to tell the face's outline from the background;
    for a ResNet layer2 at 64 px, layer3 at 96-191 px, layer4 from 192 px); where none is, the
    deepest of the finest (a transformer's stages all share one)."""
    if setting != "auto":
        if setting not in LAYERS:
            raise ConfigError(f"explain.layer='{setting}' must be auto or one of {LAYERS}")
        return setting
    fine = [name for name in LAYERS if image_size // reductions[name] >= min_side]
    if fine:
        return fine[-1]
    finest = min(reductions.values())
    return [name for name in LAYERS if reductions[name] == finest][-1]
