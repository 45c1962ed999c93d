"""The run's dataset: where the images come from, how patients are split, how batches are made."""

from __future__ import annotations

import logging
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from thermal_icas.data.batch_augment import BatchAugment
from thermal_icas.data.datasets import CachedImageDataset, IndexBatches, keep_batch
from thermal_icas.data.device_batches import DeviceBatches
from thermal_icas.data.preprocess import face_locator, preprocess_all
from thermal_icas.data.records import (
    ClassInfo,
    ImageRecord,
    find_class_dirs,
    resolve_classes,
    scan_folder,
)
from thermal_icas.data.splits import (
    check_disjoint,
    fold_patients,
    permute_labels,
    read_splits,
    split_patients,
    write_splits,
)
from thermal_icas.data.synthetic import SyntheticSpec, ensure_dataset
from thermal_icas.data.transforms import AugmentConfig, eval_transform, train_transform
from thermal_icas.errors import ConfigError, DatasetError
from thermal_icas.masks.masking import Masking

log = logging.getLogger(__name__)


class ThermalData:
    """Resolves the data source, splits it by patient and caches the preprocessed images.

    `data_dir=None` selects the embedded synthetic dataset, generated once into `cache_dir`.
    With `test_dir`, data_dir is split into train/val only and test_dir is the test split.
    With `num_folds`, fold `fold` of a patient-grouped stratified k-fold is the test split.
    With `permute_labels`, the train and val patients' labels are shuffled (a null run).
    """

    def __init__(
        self,
        *,
        data_dir: str | None,
        test_dir: str | None,
        split_file: str | None,
        positive_class: str | None,
        patient_regex: str,
        split: Mapping[str, float],
        split_seed: int,
        num_folds: int | None,
        fold: int,
        permute_labels: bool = False,
        image_size: int,
        num_workers: int | str,
        augment: Mapping[str, object],
        augment_on: str,
        mean: Sequence[float],
        std: Sequence[float],
        mask: Masking,
        asymmetry: Mapping[str, object],
        synthetic: SyntheticSpec,
        cache_dir: str,
    ) -> None:
        self.data_dir = data_dir
        self.test_dir = test_dir
        self.split_file = split_file
        self.positive_class = positive_class
        self.patient_regex = patient_regex
        self.split_fractions = dict(split)
        self.split_seed = split_seed
        self.num_folds = num_folds
        self.fold = fold
        self.permute_labels = permute_labels
        self.image_size = image_size
        self.augment_on_device = resolve_augment_on(augment_on)
        self.num_workers = resolve_workers(num_workers, self.augment_on_device)
        self.augment = AugmentConfig(**{k: _tuple(v) for k, v in augment.items()})
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.mask = mask
        # the asymmetry arms compare the halves: faces upright, centred on their midline
        self.on_midline = bool(asymmetry["enabled"])
        self.synthetic = synthetic
        self.cache_dir = Path(cache_dir)
        self.classes: ClassInfo | None = None
        self.rows: list[tuple[ImageRecord, str]] = []
        self.skipped: list[tuple[str, str]] = []
        self.images: torch.Tensor | None = None
        self.faces: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self.mask_coverage: torch.Tensor | None = None
        self.mask_fallback: torch.Tensor | None = None
        self._device_batches: DeviceBatches | None = None

    def setup(self) -> None:
        """Scan, split and preprocess; idempotent so every stage can call it."""
        if self.images is not None:
            return
        root = self._resolve_root()
        self.classes = resolve_classes(find_class_dirs(root), self.positive_class, str(root))
        candidates = self._scan(root)
        processed = preprocess_all(
            [r.path for r, _ in candidates],
            self.mask,
            self.background(),
            self.image_size,
            face_locator(self.mask),
            centre=self.on_midline,
        )
        # patients are split after unusable images are skipped, so none takes a split's place
        # with no image left
        self.rows = self._assign_splits([candidates[i] for i in processed.kept])
        self.skipped = processed.skipped
        for split in ("train", "val", "test"):
            present = {r.label for r in self.records(split)}
            if len(present) < 2:
                raise DatasetError(
                    f"the {split} split has {self.counts(split)} images per class: both classes "
                    "are needed; add patients or change data.split"
                )
        self.images = processed.images
        self.faces = processed.faces
        self.mask_coverage = processed.coverage
        self.mask_fallback = processed.fallback
        if self.permute_labels:
            log.warning(
                "data.permute_labels: labels shuffled across the train and val patients (test "
                "untouched): a null run, whose test AUROC should be at chance"
            )
            self.labels = torch.tensor(permute_labels(self.rows, ("train", "val"), self.split_seed))
        else:
            self.labels = torch.tensor([r.label for r, _ in self.rows])
        for split in ("train", "val", "test"):
            records = self.records(split)
            log.info(
                "%s: %d images, %d patients, per class %s",
                split,
                len(records),
                len({r.patient for r in records}),
                self.counts(split),
            )

    def background(self) -> np.ndarray:
        return self.mask.background(self.mean, self.std)

    def mask_stats(self, split: str) -> dict[str, float]:
        """Mean mask coverage and the number of fallback masks among a split's images."""
        assert self.mask_coverage is not None and self.mask_fallback is not None
        index = torch.tensor(self.indices(split), dtype=torch.long)
        return {
            "mask_coverage": float(self.mask_coverage[index].mean()),
            "mask_fallbacks": float(self.mask_fallback[index].sum()),
        }

    def _resolve_root(self) -> Path:
        if self.data_dir is not None:
            return Path(self.data_dir).expanduser()
        root = ensure_dataset(self.cache_dir / "synthetic", self.synthetic)
        log.info("Using the embedded synthetic dataset at %s", root)
        return root

    def _scan(self, root: Path) -> list[tuple[ImageRecord, str | None]]:
        """Every image with its split where that is already fixed (a split file, `test_dir`),
        else None."""
        assert self.classes is not None
        if self.split_file is not None:
            for setting in ("test_dir", "num_folds"):
                if getattr(self, setting) is not None:
                    raise DatasetError(
                        f"data.split_file fixes every split, so it excludes data.{setting}"
                    )
            return list(read_splits(Path(self.split_file).expanduser(), self.classes))
        rows: list[tuple[ImageRecord, str | None]] = [
            (r, None) for r in scan_folder(root, self.classes, self.patient_regex)
        ]
        if self.test_dir is None:
            return rows
        if self.num_folds is not None:
            raise DatasetError("data.num_folds and data.test_dir exclude each other")
        test_root = Path(self.test_dir).expanduser()
        test_names = find_class_dirs(test_root)
        if tuple(test_names) != self.classes.names:
            raise DatasetError(
                f"data.test_dir '{test_root}' has classes {test_names}, "
                f"but data_dir has {list(self.classes.names)}"
            )
        test_records = scan_folder(test_root, self.classes, self.patient_regex)
        shared = sorted({r.patient for r, _ in rows} & {r.patient for r in test_records})
        if shared:
            raise DatasetError(
                f"data.test_dir '{test_root}' and data_dir share {len(shared)} patient id(s) "
                f"(e.g. {shared[:3]}): a patient may not be in training and test; if they are "
                "different people, give them distinct ids"
            )
        return rows + [(r, "test") for r in test_records]

    def _assign_splits(
        self, candidates: list[tuple[ImageRecord, str | None]]
    ) -> list[tuple[ImageRecord, str]]:
        """Split the patients whose split is not fixed yet; no patient may be in two splits."""
        pool = [record for record, split in candidates if split is None]
        assignment: dict[str, str] = {}
        if pool:
            fractions = dict(self.split_fractions)
            if self.test_dir is not None:
                fractions["test"] = 0.0
            if self.num_folds is not None:
                assignment = fold_patients(
                    pool, fractions, self.split_seed, self.num_folds, self.fold
                )
            else:
                assignment = split_patients(pool, fractions, self.split_seed)
        rows = [(record, split or assignment[record.patient]) for record, split in candidates]
        check_disjoint(rows)
        return rows

    def records(self, split: str) -> list[ImageRecord]:
        return [record for record, name in self.rows if name == split]

    def indices(self, split: str) -> list[int]:
        return [i for i, (_, name) in enumerate(self.rows) if name == split]

    def counts(self, split: str) -> dict[str, int]:
        assert self.classes is not None
        counter = Counter(self.classes.names[r.label] for r in self.records(split))
        return {name: counter.get(name, 0) for name in self.classes.names}

    def class_weights(self) -> list[float]:
        """Inverse-frequency weights from the training split, so the minority class counts."""
        assert self.classes is not None
        counts = self.counts("train")
        total = sum(counts.values())
        return [total / (len(counts) * counts[name]) for name in self.classes.names]

    def write_splits(self, path: Path) -> None:
        assert self.classes is not None
        write_splits(path, self.rows, self.classes)

    def dataset(
        self, split: str, *, train: bool, views: int = 1
    ) -> CachedImageDataset | IndexBatches:
        """Training batches to augment on the device come as indices alone (the modules'
        `device_batches` assemble and augment them there); all others as transformed samples."""
        if self.images is None or self.labels is None:
            raise RuntimeError("call setup() before asking for datasets")
        if train and self.augment_on_device:
            return IndexBatches(self.indices(split))
        if train:
            transform = train_transform(
                self.image_size, self.augment, self.mean, self.std, self.on_midline
            )
        else:
            transform = eval_transform(self.mean, self.std)
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
            augment = BatchAugment(
                self.image_size, self.augment, self.mean, self.std, self.on_midline
            )
            self._device_batches = DeviceBatches(self.images, self.labels, augment)
        return self._device_batches

    def loader(
        self, split: str, *, batch_size: int, train: bool, views: int = 1, processes: int = 1
    ) -> DataLoader:
        """Training drops an epoch's last, smaller batch, unless it is each process's only one:
        under DDP every one of `processes` processes takes its own share of the split."""
        dataset = self.dataset(split, train=train, views=views)
        share = math.ceil(len(dataset) / processes)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=train,
            drop_last=train and share > batch_size,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=keep_batch if isinstance(dataset, IndexBatches) else None,
            # page-locked batches copy to the GPU asynchronously
            pin_memory=torch.cuda.is_available(),
        )


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


def _tuple(value: object) -> object:
    return tuple(value) if isinstance(value, Sequence) and not isinstance(value, str) else value
