"""A learned spatial gate on the last feature map, to show and steer where the model looks."""

from __future__ import annotations

from torch import Tensor, nn


class SpatialAttentionGate(nn.Module):
    """3x3 conv to `hidden` channels, ReLU, 1x1 conv to one map, sigmoid; gates the features."""

    def __init__(self, in_channels: int, hidden_channels: int | None = None) -> None:
        super().__init__()
        hidden = hidden_channels or in_channels // 2
        self.score = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, kernel_size=1),
            nn.Sigmoid(),
        )

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        attention = self.score(features)
        return features * attention, attention
