"""The loaders of a set-up dataset's splits: augmented training batches (on the CPU in workers,
or as indices that the device assembles and augments), transformed val and test samples, each
process's share under DDP. Mixed into `ThermalData`, whose `setup` provides the images."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader

from thermal_icas.core.data.batch_augment import BatchAugment
from thermal_icas.core.data.datasets import (
    CachedImageDataset,
    IndexBatches,
    keep_batch,
    resolve_augment_on,
    resolve_workers,
)
from thermal_icas.core.data.device_batches import DeviceBatches
from thermal_icas.core.data.transforms import AugmentConfig, train_transform

if TYPE_CHECKING:
    from typing_extensions import Self

    from thermal_icas.core.data.preprocess import Preprocessor


class SplitLoaders:
    """Needs `images`, `labels`, `faces`, `preprocessor`, `indices(split)` and Lightning's
    `trainer` from the class it is mixed into."""

    images: torch.Tensor | None
    labels: torch.Tensor | None
    faces: torch.Tensor | None
    preprocessor: Preprocessor
    indices: Callable[[str], list[int]]

    def init_loading(
        self,
        augment: Mapping[str, object],
        augment_on: str,
        num_workers: int | str,
        temperature_span: float | None = None,
    ) -> None:
        """`data.augment`, `data.augment_on` and `data.num_workers`, and for images of a
        temperature window its width in deg C; the batch size and views per image are each
        stage's (`for_stage`)."""
        self.augment_on_device = resolve_augment_on(augment_on)
        self.num_workers = resolve_workers(num_workers, self.augment_on_device)
        self.augment = AugmentConfig(**{k: _tuple(v) for k, v in augment.items()})
        if temperature_span is not None:
            self.augment = self.augment.for_temperatures(temperature_span)
        self.batch_size = 32
        self.views = 1
        self._device_batches: DeviceBatches | None = None

    def dataset(
        self, split: str, *, train: bool, views: int = 1
    ) -> CachedImageDataset | IndexBatches:
        """Training batches to augment on the device come as indices alone (the modules'
        `device_batches` assemble and augment them there); all others as transformed samples."""
        if self.images is None or self.labels is None:
            raise RuntimeError("call setup() before asking for datasets")
        if train and self.augment_on_device:
            return IndexBatches(self.indices(split))
        pre = self.preprocessor
        if train:
            transform = train_transform(
                pre.image_size, self.augment, pre.mean, pre.std, pre.on_midline
            )
        else:
            transform = pre.eval_transform()
        faces = None if train else self.faces
        return CachedImageDataset(
            self.images, self.labels, self.indices(split), transform, views, faces
        )

    def device_batches(self) -> DeviceBatches | None:
        """What assembles and augments training batches on the device, if they are made there;
        one instance per run, so both stages share its copy of the cache on the device."""
        if not self.augment_on_device:
            return None
        if self._device_batches is None:
            if self.images is None or self.labels is None:
                raise RuntimeError("call setup() before asking for device batches")
            pre = self.preprocessor
            augment = BatchAugment(pre.image_size, self.augment, pre.mean, pre.std, pre.on_midline)
            self._device_batches = DeviceBatches(self.images, self.labels, augment)
        return self._device_batches

    def for_stage(self, batch_size: int, views: int = 1) -> Self:
        """The batch size per process and the views per training image of the next stage."""
        self.batch_size, self.views = batch_size, views
        return self

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", train=True, views=self.views)

    def val_dataloader(self) -> DataLoader:
        return self.loader("val")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")

    def loader(self, split: str, *, train: bool = False, views: int = 1) -> DataLoader:
        """Training drops an epoch's last, smaller batch, unless it is each process's only one:
        under DDP every process of the trainer takes its own share of the split."""
        dataset = self.dataset(split, train=train, views=views)
        processes = self.trainer.world_size if self.trainer is not None else 1
        share = math.ceil(len(dataset) / processes)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=train,
            drop_last=train and share > self.batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=keep_batch if isinstance(dataset, IndexBatches) else None,
            # page-locked batches copy to the GPU asynchronously
            pin_memory=torch.cuda.is_available(),
        )


def _tuple(value: object) -> object:
    return tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else value
