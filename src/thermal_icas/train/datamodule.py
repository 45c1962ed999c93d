"""The run's dataset: where the images come from, how patients are split, how batches are made."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from thermal_icas.core import run_files
from thermal_icas.core.asymmetry import Asymmetry
from thermal_icas.core.data.classes import ClassInfo, resolve_classes
from thermal_icas.core.data.cohort import (
    assign_splits,
    check_both_classes,
    counts,
    log_splits,
    scan_cohort,
)
from thermal_icas.core.data.confound import (
    AcquisitionAudit,
    audit_rows,
    check,
    check_setting,
    write_differences,
)
from thermal_icas.core.data.duplicates import report_duplicates, screen_duplicates
from thermal_icas.core.data.preprocess import Preprocessor, write_skipped
from thermal_icas.core.data.reading import Reading
from thermal_icas.core.data.records import ImageRecord
from thermal_icas.core.data.sites import Sites
from thermal_icas.core.data.splits import permute_labels, write_splits
from thermal_icas.core.data.synthetic import SyntheticSpec, ensure_dataset
from thermal_icas.core.errors import ConfigError
from thermal_icas.core.masks.masking import Masking
from thermal_icas.core.memory import check_cache
from thermal_icas.train.loaders import SplitLoaders

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")


class ThermalData(SplitLoaders, L.LightningDataModule):
    """The run's data: resolves the source, splits it by patient (`cohort`), preprocesses every
    image once (`Preprocessor`) and serves the splits' loaders.

    `data_dir=None` selects the embedded synthetic dataset, generated once into `cache_dir`.
    With `test_dir`, data_dir is split into train/val only and test_dir is the test split.
    With `num_folds`, fold `fold` of a patient-grouped stratified k-fold is the test split.
    With `permute_labels`, the train and val patients' labels are shuffled (a null run).
    `reading` holds how files are read (`Reading`: `format`, `temperature_window`,
    `counts_to_celsius`, `palette`, `palette_max_distance`).
    Each stage sets its batch size (`for_stage`); under DDP each process loads its share, at
    that batch size, of the processes its trainer has.
    """

    def __init__(
        self,
        *,
        data_dir: str | None,
        test_dir: str | None,
        split_file: str | None,
        positive_class: str | None,
        patient_regex: str,
        patient_from: str = "filename",
        duplicate_distance: int = 6,
        on_duplicates: str = "warn",
        on_confound: str = "warn",
        split: Mapping[str, float],
        split_seed: int,
        num_folds: int | None,
        fold: int,
        permute_labels: bool = False,
        site_from: str = "none",
        site_regex: str | None = None,
        site_column: str | None = None,
        site_folds: bool = False,
        image_size: int,
        num_workers: int | str,
        augment: Mapping[str, object],
        augment_on: str,
        mean: Sequence[float],
        std: Sequence[float],
        mask: Masking,
        asymmetry: Asymmetry | None,
        normalize: str = "dataset",
        clinical_csv: str | None = None,
        synthetic: SyntheticSpec,
        cache_dir: str,
        **reading: Any,
    ) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.test_dir, self.split_file = test_dir, split_file
        self.positive_class = positive_class
        self.patient_regex = patient_regex
        self.patient_from = patient_from
        self.duplicate_distance, self.on_duplicates = duplicate_distance, on_duplicates
        self.on_confound = check_setting(on_confound)
        self.split_fractions = dict(split)
        self.split_seed = split_seed
        self.num_folds, self.fold = num_folds, fold
        self.permute_labels = permute_labels
        self.clinical_csv = clinical_csv
        self.sites = Sites(site_from, site_regex, site_column, clinical_csv)
        self.site_folds = site_folds
        self.reading = Reading(**reading)
        self.preprocessor = Preprocessor(
            mask, image_size, mean, std, asymmetry, self.reading, normalize
        )
        self.synthetic, self.cache_dir = synthetic, Path(cache_dir)
        _check_embedded_format(data_dir, synthetic, self.reading)
        span = self.reading.window.span if self.reading.temperature else None
        self.init_loading(augment, augment_on, num_workers, span)
        self._unset()

    def _unset(self) -> None:
        """What `setup` fills in."""
        self.root: Path | None = None
        self.classes: ClassInfo | None = None
        self.rows: list[tuple[ImageRecord, str]] = []
        self.skipped: list[tuple[str, str]] = []
        self.duplicate_pairs = 0
        self.acquisition: AcquisitionAudit | None = None
        self.images: torch.Tensor | None = None
        self.faces: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self.mask_coverage: torch.Tensor | None = None
        self.mask_fallback: torch.Tensor | None = None
        self.off_palette: torch.Tensor | None = None

    def background(self) -> np.ndarray:
        return self.preprocessor.background()

    def setup(self, stage: str | None = None) -> None:
        """Scan, split and preprocess; idempotent, as Lightning calls it for every stage."""
        if self.images is not None:
            return
        self.root = root = self._resolve_root()
        names = self.sites.class_names(root)
        self.classes = resolve_classes(names, self.positive_class, str(root))
        candidates = scan_cohort(
            root,
            self.classes,
            self.patient_regex,
            self.split_file,
            self.test_dir,
            self.num_folds,
            self.patient_from,
            self.sites,
        )
        check_cache(len(candidates), self.preprocessor.image_size, self.augment_on_device)
        processed = self.preprocessor([r.path for r, _ in candidates])
        # patients are split after unusable images are skipped, so none takes a split's place
        # with no image left; copies across patients stop the run or join them first
        usable, pairs = screen_duplicates(
            [candidates[i] for i in processed.kept],
            self.cache_dir,
            self.duplicate_distance,
            self.on_duplicates,
            self.classes.names,
            self.reading.appearance,
            self.reading.appearance_key(),
        )
        self.rows = assign_splits(
            usable,
            self.split_fractions,
            self.split_seed,
            self.num_folds,
            self.fold,
            external_test=self.test_dir is not None,
            site_folds=self.site_folds,
        )
        self.skipped = processed.skipped
        self.duplicate_pairs = len(pairs)
        report_duplicates(pairs, self.rows, self.classes.names)
        check_both_classes(self.rows, self.classes)
        self._audit()
        self.images = processed.images
        self.faces = processed.faces
        self.mask_coverage = processed.coverage
        self.mask_fallback = processed.fallback
        self.off_palette = processed.off_palette
        if self.permute_labels:
            log.warning(
                "data.permute_labels: labels shuffled across the train and val patients (test "
                "untouched): a null run, whose test AUROC should be at chance"
            )
            self.labels = torch.tensor(permute_labels(self.rows, ("train", "val"), self.split_seed))
        else:
            self.labels = torch.tensor([r.label for r, _ in self.rows])
        log_splits(self.rows, self.classes)

    def _audit(self) -> None:
        """How the images were captured, by class (`confound`): logged, or the run stopped."""
        look, key = self.reading.appearance, self.reading.appearance_key()
        self.acquisition = audit_rows(self.rows, self.cache_dir, self.split_seed, look, key)
        check(self.acquisition, self.on_confound)

    def mask_summary(self) -> dict[str, float]:
        """Mask coverage and fallbacks per split and overall, and the images skipped."""
        assert self.mask_coverage is not None and self.mask_fallback is not None
        summary = {}
        for split in SPLITS:
            index = torch.tensor(self.indices(split), dtype=torch.long)
            summary[f"data/mask_coverage/{split}"] = float(self.mask_coverage[index].mean())
            summary[f"data/mask_fallbacks/{split}"] = float(self.mask_fallback[index].sum())
        summary["data/mask_coverage"] = float(self.mask_coverage.mean())
        summary["data/mask_fallbacks"] = float(self.mask_fallback.sum())
        summary["data/skipped_images"] = float(len(self.skipped))
        summary["data/duplicate_pairs"] = float(self.duplicate_pairs)
        if self.off_palette is not None:
            summary["data/off_palette_share"] = float(self.off_palette.mean())
        return summary | (self.acquisition.metrics() if self.acquisition else {})

    def _resolve_root(self) -> Path:
        if self.data_dir is not None:
            return Path(self.data_dir).expanduser()
        root = ensure_dataset(self.cache_dir / "synthetic", self.synthetic)
        log.info("Using the embedded synthetic dataset at %s", root)
        return root

    def records(self, split: str) -> list[ImageRecord]:
        return [record for record, name in self.rows if name == split]

    def records_at(self, indices: Sequence[int]) -> list[ImageRecord]:
        """The records of the images at these row indices (as predictions carry them)."""
        return [self.rows[i][0] for i in indices]

    def indices(self, split: str) -> list[int]:
        return [i for i, (_, name) in enumerate(self.rows) if name == split]

    def counts(self, split: str) -> dict[str, int]:
        assert self.classes is not None
        return counts(self.rows, split, self.classes)

    def class_weights(self) -> list[float]:
        """Inverse-frequency weights from the training split, so the minority class counts."""
        assert self.classes is not None
        counts = self.counts("train")
        total = sum(counts.values())
        return [total / (len(counts) * counts[name]) for name in self.classes.names]

    def write_splits(self, run_dir: Path) -> None:
        """`splits.csv` (every image's patient, class and split: reusable as data.split_file)
        `acquisition.csv` (the capture properties by class) and, if any image was unusable,
        `skipped.csv` with the reasons."""
        assert self.classes is not None
        write_splits(run_dir / run_files.SPLITS, self.rows, self.classes)
        if self.acquisition is not None:
            names = (self.classes.negative, self.classes.positive)
            write_differences(run_dir / run_files.ACQUISITION, self.acquisition, names)
        if self.skipped:
            write_skipped(run_dir / run_files.SKIPPED, self.skipped)


def _check_embedded_format(
    data_dir: str | None, synthetic: SyntheticSpec, reading: Reading
) -> None:
    """The embedded data are read as what they hold: pictures, or the twin's deg C arrays."""
    if data_dir is not None:
        return
    wanted = synthetic.format  # image or celsius, as data.format names them
    if reading.format != wanted:
        raise ConfigError(
            f"data.format={reading.format} cannot read the embedded data "
            f"(data.synthetic.format={synthetic.format}): use data.format={wanted}; their "
            "radiometric twin is data.synthetic.format=celsius with data.format=celsius"
        )
