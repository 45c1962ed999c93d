"""A learned spatial gate on a feature map, to show and steer where the model looks."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from thermal_icas.core.errors import ConfigError

GATED_LAYERS = ("layer3", "layer4")


class SpatialAttentionGate(nn.Module):
    """3x3 conv to `hidden` channels, ReLU, 1x1 conv to one score per position; the gate is the
    softmax of the bounded scores over the positions, times their number, so it averages 1.

    - Neutral start: the last conv is zero-initialised, so every score is 0 and the gate starts
      as plain average pooling. A randomly initialised gate on a small map is mostly a function
      of position (the zero padding of its 3x3 conv), not of the image: the quadrant it starts
      on depends on the seed and locks in.
    - Bounded scores, `score_bound * tanh(score / score_bound)`: one position can outweigh
      another by at most exp(2 * score_bound), so the gate cannot collapse onto one position.
    - Softmax, not sigmoid: the gate moves the features' weight between positions but cannot
      scale them all down. In contrastive pretraining the projection head's BatchNorm makes the
      overall scale free; a sigmoid gate drifted into saturation there (features gated to ~1e-9)
      and fine-tuning could not recover it.
    """

    def __init__(
        self, in_channels: int, hidden_channels: int | None = None, score_bound: float = 3.0
    ) -> None:
        super().__init__()
        hidden = hidden_channels or in_channels // 2
        self.score = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, kernel_size=1),
        )
        nn.init.zeros_(self.score[-1].weight)
        nn.init.zeros_(self.score[-1].bias)
        self.score_bound = score_bound

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """(gated features, gate map (B, 1, h, w) with mean 1 over the positions)."""
        scores = self.score_bound * torch.tanh(self.score(features) / self.score_bound)
        positions = scores.shape[-2] * scores.shape[-1]
        gate = scores.flatten(2).softmax(-1).view_as(scores) * positions
        return features * gate, gate


@dataclass(frozen=True)
class Attention:
    """The `attention=on` lever: a gate on the output of trunk layer `layer`. On layer4 it sits
    just before pooling; on layer3 before layer4, for small inputs (64 px), whose layer4 map is
    2x2 and where a gate could only pick a quadrant."""

    layer: str = "layer3"
    hidden_channels: int | None = None
    score_bound: float = 3.0

    def __post_init__(self) -> None:
        if self.layer not in GATED_LAYERS:
            raise ConfigError(f"attention.layer='{self.layer}' must be one of {GATED_LAYERS}")

    def gate(self, in_channels: int) -> SpatialAttentionGate:
        return SpatialAttentionGate(in_channels, self.hidden_channels, self.score_bound)
