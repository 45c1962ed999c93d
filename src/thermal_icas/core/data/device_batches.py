"""Training batches assembled on the training device from a batch of cache indices."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn


class DeviceBatches(nn.Module):
    """Gathers a batch from a copy of the uint8 cache on the device and augments it there.

    A ResNet step on small images on a GPU is bound by the host launching kernels, so per
    batch the host only ships the indices (`IndexBatches`): no copy of the images into a new
    tensor, none into page-locked memory and no transfer of them. The cache is copied to a
    device once, on its first batch there, and the copy is shared by both stages; it is a plain
    attribute, so checkpoints do not hold it.
    """

    def __init__(self, images: Tensor, labels: Tensor, augment: nn.Module) -> None:
        super().__init__()
        self.augment = augment
        self.images = images
        self.labels = labels
        self._copies: dict[torch.device, tuple[Tensor, Tensor]] = {}

    @staticmethod
    def assembles(batch: Any) -> bool:
        """True for a batch of indices alone, as `IndexBatches` yields."""
        return isinstance(batch, dict) and batch.keys() == {"index"}

    def forward(self, index: Tensor, views: int = 1) -> tuple[list[Tensor], Tensor]:
        """`views` independently augmented views of the indexed images, and their labels."""
        images, labels = self._on(index.device)
        raw = images.index_select(0, index)
        augmented = self.augment(raw.repeat(views, 1, 1, 1) if views > 1 else raw)
        return [*augmented.chunk(views)], labels.index_select(0, index)

    def _on(self, device: torch.device) -> tuple[Tensor, Tensor]:
        if device not in self._copies:
            self._copies[device] = (self.images.to(device), self.labels.to(device))
        return self._copies[device]
