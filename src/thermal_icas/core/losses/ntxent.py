"""SimCLR's NT-Xent loss (Chen et al., 2020)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from thermal_icas.core.losses.distributed import gather_normalised_views
from thermal_icas.core.losses.supcon import supcon_from_normalised


class NTXentLoss(nn.Module):
    """Self-supervised contrast: SupCon where every image is its own class.

    Reusing the SupCon computation keeps the two losses numerically identical when all labels are
    distinct. Identities are assigned after gathering so they are unique across processes.
    """

    needs_labels: ClassVar[bool] = False

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive; got {temperature}")
        self.temperature = temperature

    def forward(self, z1: Tensor, z2: Tensor, labels: Tensor | None = None) -> Tensor:
        """``labels`` is accepted for a uniform loss interface and ignored."""
        z, _ = gather_normalised_views(z1, z2)
        identities = torch.arange(z.shape[0] // 2, device=z.device).repeat(2)
        return supcon_from_normalised(z, identities, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
