"""Torch datasets over images that were decoded, masked and resized once, up front, and the
settings of the loaders that serve them."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from thermal_icas.core.errors import ConfigError


class CachedImageDataset(Dataset):
    """Serves augmented views of preprocessed uint8 images.

    `views=2` yields two independent augmentations of one image for contrastive learning.
    The dataset index of each image travels with the batch so callers can check which images
    a stage actually received. With `faces`, evaluation samples also carry the face region at
    the model's input geometry, which focus metrics score explanation maps against.
    """

    def __init__(
        self,
        images: Tensor,
        labels: Tensor,
        indices: Sequence[int],
        transform: nn.Module,
        views: int = 1,
        faces: Tensor | None = None,
    ) -> None:
        if views < 1:
            raise ValueError(f"views must be >= 1, got {views}")
        self.images = images
        self.labels = labels
        self.indices = list(indices)
        self.transform = transform
        self.views = views
        self.faces = faces

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict[str, Any]:
        index = self.indices[item]
        image = self.images[index]
        sample: dict[str, Any] = {"label": self.labels[index], "index": index}
        if self.views == 1:
            sample["image"] = self.transform(image)
        else:
            sample["views"] = [self.transform(image) for _ in range(self.views)]
        if self.faces is not None:
            sample["face"] = self.face(index)
        return sample

    def face(self, index: int) -> Tensor:
        return self.faces[index][None].float() / 255.0


class IndexBatches(Dataset):
    """The cache indices of a split's images, a batch at a time, for batches that are
    assembled on the training device (`DeviceBatches`).

    The loader calls `__getitems__` with a batch's positions and ships one small tensor: the
    images themselves already sit on the device. Pair it with `collate_fn=keep_batch`.
    """

    def __init__(self, indices: Sequence[int]) -> None:
        self.indices = torch.as_tensor(list(indices), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict[str, Tensor]:
        return {"index": self.indices[item]}

    def __getitems__(self, items: list[int]) -> dict[str, Tensor]:
        return {"index": self.indices.index_select(0, torch.as_tensor(items))}


def keep_batch(batch: dict[str, Tensor]) -> dict[str, Tensor]:
    """The collate function of a dataset that already returns whole batches."""
    return batch


def resolve_augment_on(augment_on: str) -> bool:
    """True to augment training batches on the device; `auto` does so where CUDA is."""
    if augment_on not in ("auto", "cpu", "device"):
        raise ConfigError(f"data.augment_on='{augment_on}' must be one of auto, cpu, device")
    return augment_on == "device" or (augment_on == "auto" and torch.cuda.is_available())


def resolve_workers(num_workers: int | str, augment_on_device: bool) -> int:
    """`auto`: no worker processes where the loader only slices the cached images (augmenting
    on the device) or where a CPU-only machine trains (augmenting costs a few percent of a
    step there); else enough of them to keep a GPU fed."""
    if num_workers == "auto":
        if augment_on_device or not torch.cuda.is_available():
            return 0
        return min(12, (os.cpu_count() or 2) - 1)
    if not isinstance(num_workers, int) or num_workers < 0:
        raise ConfigError(f"data.num_workers='{num_workers}' must be 'auto' or an integer >= 0")
    return num_workers
