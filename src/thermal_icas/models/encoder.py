"""The encoder shared by both stages: ResNet trunk, optional attention gate, global pooling."""

from __future__ import annotations

from torch import Tensor, nn

from thermal_icas.models.attention import SpatialAttentionGate
from thermal_icas.models.backbone import build_resnet, resnet_trunk, widen_first_conv


class ThermalEncoder(nn.Module):
    def __init__(
        self,
        backbone: str = "resnet18",
        pretrained: str = "none",
        in_channels: int = 3,
        attention: bool = False,
        attention_hidden_channels: int | None = None,
    ) -> None:
        super().__init__()
        self.arch = {"backbone": backbone, "attention": attention, "in_channels": in_channels}
        resnet = build_resnet(backbone, pretrained)
        if in_channels != 3:
            resnet.conv1 = widen_first_conv(resnet.conv1, in_channels)
        self.trunk, self.out_dim = resnet_trunk(resnet)
        self.attention = (
            SpatialAttentionGate(self.out_dim, attention_hidden_channels) if attention else None
        )
        self.pool = nn.AdaptiveAvgPool2d(1)

    def feature_map(self, x: Tensor) -> tuple[Tensor, Tensor | None]:
        """The (gated) last feature map and the attention map, for pooling or for display."""
        features = self.trunk(x)
        if self.attention is None:
            return features, None
        return self.attention(features)

    def forward(self, x: Tensor) -> Tensor:
        features, _ = self.feature_map(x)
        return self.pool(features).flatten(1)
