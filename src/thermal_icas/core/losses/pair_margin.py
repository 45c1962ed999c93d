"""The legacy pairwise cosine-margin loss, kept to compare against the contrastive losses."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from thermal_icas.core.losses.distributed import gather_normalised_views


class PairMarginLoss(nn.Module):
    """Same-label pairs pay ``1 - cos``; different-label pairs pay ``max(0, cos - margin)``.

    Averaged over all ordered pairs of the 2N global views except self-pairs. Unlike the
    softmax losses, a pair contributes nothing once it is on the right side of the margin.
    """

    needs_labels: ClassVar[bool] = True

    def __init__(self, margin: float = 0.2) -> None:
        super().__init__()
        self.margin = margin

    def forward(self, z1: Tensor, z2: Tensor, labels: Tensor | None = None) -> Tensor:
        if labels is None:
            raise ValueError("PairMarginLoss needs class labels to tell positives from negatives")
        z, all_labels = gather_normalised_views(z1, z2, labels)
        with torch.autocast(device_type=z.device.type, enabled=False):
            cos = z @ z.T
        same = all_labels[:, None] == all_labels[None, :]
        cost = torch.where(same, 1.0 - cos, (cos - self.margin).clamp(min=0.0))
        not_self = ~torch.eye(z.shape[0], dtype=torch.bool, device=z.device)
        return cost[not_self].mean()

    def extra_repr(self) -> str:
        return f"margin={self.margin}"
