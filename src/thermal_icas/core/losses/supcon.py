"""Supervised contrastive loss (Khosla et al., 2020), the L_out variant."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from thermal_icas.core.losses.distributed import gather_normalised_views


def supcon_from_normalised(z: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """SupCon on already gathered, L2-normalised views ``z`` (2N, D) with labels (2N,).

    Shared by SupCon and NT-Xent (which is this with one label per image). Every anchor has at
    least its twin view as a positive, so the per-anchor mean over positives is always defined.
    """
    n = z.shape[0]
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    # Autocast would run the matmul in bf16 and blur the softmax; keep it in z's float dtype.
    with torch.autocast(device_type=z.device.type, enabled=False):
        logits = (z @ z.T / temperature).masked_fill(self_mask, float("-inf"))
        log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    pos_log_prob = log_prob.masked_fill(~positives, 0.0).sum(dim=1)
    return -(pos_log_prob / positives.sum(dim=1)).mean()


class SupConLoss(nn.Module):
    """Pulls together all views sharing a label, pushes apart the rest of the global batch."""

    needs_labels: ClassVar[bool] = True

    def __init__(self, temperature: float = 0.1) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive; got {temperature}")
        self.temperature = temperature

    def forward(self, z1: Tensor, z2: Tensor, labels: Tensor | None = None) -> Tensor:
        if labels is None:
            raise ValueError("SupConLoss needs class labels; use NTXentLoss for unlabelled data")
        z, all_labels = gather_normalised_views(z1, z2, labels)
        return supcon_from_normalised(z, all_labels, self.temperature)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
