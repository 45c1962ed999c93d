"""The encoder shared by both stages: asymmetry input adapter, ResNet trunk, optional attention
gate after one of its layers, global pooling."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from thermal_icas.asymmetry import Asymmetry, InputAdapter
from thermal_icas.errors import ConfigError
from thermal_icas.models.attention import Attention
from thermal_icas.models.backbone import build_resnet

LAYERS = ("layer1", "layer2", "layer3", "layer4")
# how much each layer's output is smaller than the input, per side
STRIDES = dict(zip(LAYERS, (4, 8, 16, 32), strict=True))


@dataclass(frozen=True)
class EncoderOutput:
    features: Tensor  # (B, out_dim), one vector per face
    captured: Tensor | None  # (B', C, h, w): the requested layer's output, part of the graph
    gate: Tensor | None  # (B', 1, h, w): the attention gate, mean 1


class ThermalEncoder(nn.Module):
    """`asymmetry` (None: the whole face through one trunk) decides how the face, centred on
    its midline, reaches the trunk (see `thermal_icas.asymmetry.fusion`). With `attention`, a
    gate weights the positions of one layer's output before the rest of the trunk and pooling.
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
        resnet = build_resnet(backbone, pretrained)
        resnet.conv1 = self.adapter.first_conv(resnet.conv1)
        self.trunk = nn.ModuleDict(
            {
                "stem": nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool),
                **{name: getattr(resnet, name) for name in LAYERS},
            }
        )
        self.attention_layer = attention.layer if attention else None
        self.attention = None
        if attention:
            self.attention = attention.gate(_out_channels(self.trunk[attention.layer]))
        self.out_dim = self.adapter.feature_dim(resnet.fc.in_features)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def forward_maps(self, faces: Tensor, capture: str | None = None) -> EncoderOutput:
        """Features, plus the output of layer `capture` (after the gate, if it sits there)."""
        if capture is not None and capture not in LAYERS:
            raise ConfigError(f"explain.layer='{capture}' must be one of {LAYERS}")
        x = self.trunk["stem"](self.adapter.split(faces))
        captured = gate = None
        for name in LAYERS:
            x = self.trunk[name](x)
            if name == self.attention_layer:
                assert self.attention is not None
                x, gate = self.attention(x)
            if name == capture:
                captured = x
        return EncoderOutput(self.adapter.combine(self.pool(x).flatten(1)), captured, gate)

    def forward(self, faces: Tensor) -> Tensor:
        return self.forward_maps(faces).features


def explain_layer(setting: str, image_size: int, min_side: int = 6) -> str:
    """`explain.layer`, with `auto` = the deepest layer whose map over the face is at least
    `min_side` positions a side (fine enough to tell the face's outline from the background):
    layer2 at 64 px, layer3 at 96-191 px, layer4 from 192 px."""
    if setting != "auto":
        if setting not in LAYERS:
            raise ConfigError(f"explain.layer='{setting}' must be auto or one of {LAYERS}")
        return setting
    fine = [name for name in LAYERS if image_size // STRIDES[name] >= min_side]
    return fine[-1] if fine else LAYERS[0]


def _out_channels(layer: nn.Sequential) -> int:
    last = layer[-1]
    return int((last.bn3 if hasattr(last, "bn3") else last.bn2).num_features)
