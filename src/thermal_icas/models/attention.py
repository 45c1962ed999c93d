"""A learned spatial gate on the last feature map, to show and steer where the model looks."""

from __future__ import annotations

from torch import Tensor, nn


class SpatialAttentionGate(nn.Module):
    """3x3 conv to `hidden` channels, ReLU, 1x1 conv to one score per position; the gate is the
    softmax of the scores over the positions, times their number, so it averages 1.

    The gate moves the features' weight between positions but cannot scale them all down. A
    sigmoid gate can: in contrastive pretraining the projection head's BatchNorm makes the
    overall scale free, the sigmoid drifted into saturation (scores near -20, features gated to
    ~1e-9) and fine-tuning could not recover it (constant predictions, AUROC 0.5).
    """

    def __init__(self, in_channels: int, hidden_channels: int | None = None) -> None:
        super().__init__()
        hidden = hidden_channels or in_channels // 2
        self.score = nn.Sequential(
            nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, 1, kernel_size=1),
        )

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """(gated features, gate map (B, 1, h, w) with mean 1 over the positions)."""
        scores = self.score(features)
        positions = scores.shape[-2] * scores.shape[-1]
        gate = scores.flatten(2).softmax(-1).view_as(scores) * positions
        return features * gate, gate
