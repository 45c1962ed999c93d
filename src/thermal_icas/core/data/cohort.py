"""The cohort as a pure step: which images there are, of which patient and class, and which
split each patient is in. Nothing here reads pixels; `ThermalData` preprocesses what it finds."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from thermal_icas.core.data.classes import ClassInfo
from thermal_icas.core.data.records import ImageRecord
from thermal_icas.core.data.sites import Sites, site_fold
from thermal_icas.core.data.splits import (
    SPLITS,
    check_disjoint,
    fold_patients,
    read_splits,
    split_patients,
    train_val_around,
)
from thermal_icas.core.errors import DatasetError

# an image and its split; None where the split is not fixed yet
log = logging.getLogger(__name__)

Candidate = tuple[ImageRecord, str | None]
NO_SITES = Sites()


def scan_cohort(
    root: Path,
    classes: ClassInfo,
    patient_regex: str,
    split_file: str | None = None,
    test_dir: str | None = None,
    num_folds: int | None = None,
    patient_from: str = "filename",
    sites: Sites = NO_SITES,
) -> list[Candidate]:
    """Every image with its split where that is already fixed (a split file, `test_dir`); a
    split file fixes the patient ids and sites too, `data_dir` and `test_dir` are each read by
    `patient_from` (`auto` decides for each folder) and `sites`."""
    if split_file is not None:
        for setting, value in (("test_dir", test_dir), ("num_folds", num_folds)):
            if value is not None:
                raise DatasetError(
                    f"data.split_file fixes every split, so it excludes data.{setting}"
                )
        return list(read_splits(Path(split_file).expanduser(), classes))
    rows: list[Candidate] = [
        (r, None) for r in sites.scan(root, classes, patient_regex, patient_from)
    ]
    if test_dir is None:
        return rows
    if num_folds is not None:
        raise DatasetError("data.num_folds and data.test_dir exclude each other")
    test_root = Path(test_dir).expanduser()
    test_names = sites.class_names(test_root)
    if tuple(test_names) != classes.names:
        raise DatasetError(
            f"data.test_dir '{test_root}' has classes {test_names}, "
            f"but data_dir has {list(classes.names)}"
        )
    test_records = sites.scan(test_root, classes, patient_regex, patient_from)
    # in any case: `P017` in training and `p017` in test are one person
    training = {r.patient.casefold() for r, _ in rows}
    shared = sorted({r.patient for r in test_records if r.patient.casefold() in training})
    if shared:
        raise DatasetError(
            f"data.test_dir '{test_root}' and data_dir share {len(shared)} patient id(s) "
            f"(e.g. {shared[:3]}): a patient may not be in training and test; if they are "
            "different people, give them distinct ids"
        )
    return rows + [(r, "test") for r in test_records]


def assign_splits(
    candidates: list[Candidate],
    fractions: Mapping[str, float],
    split_seed: int,
    num_folds: int | None = None,
    fold: int = 0,
    external_test: bool = False,
    site_folds: bool = False,
) -> list[tuple[ImageRecord, str]]:
    """Split the patients whose split is not fixed yet (with `external_test`, the test split
    comes from elsewhere and gets no share; with `site_folds`, it is the `fold`-th site); no
    patient may be in two splits."""
    pool = [record for record, split in candidates if split is None]
    assignment: dict[str, str] = {}
    if site_folds and (num_folds is not None or external_test or len(pool) < len(candidates)):
        raise DatasetError(
            "data.site_folds holds out a site as the test split: it excludes data.num_folds, "
            "data.test_dir and data.split_file"
        )
    if pool:
        shares = dict(fractions)
        if external_test:
            shares["test"] = 0.0
        if site_folds:
            assignment = train_val_around(site_fold(pool, fold), pool, shares, split_seed)
        elif num_folds is not None:
            assignment = fold_patients(pool, shares, split_seed, num_folds, fold)
        else:
            assignment = split_patients(pool, shares, split_seed)
    rows = [(record, split or assignment[record.patient]) for record, split in candidates]
    check_disjoint(rows)
    return rows


def counts(
    rows: Sequence[tuple[ImageRecord, str]], split: str, classes: ClassInfo
) -> dict[str, int]:
    """Images per class name in one split."""
    counter = Counter(classes.names[r.label] for r, name in rows if name == split)
    return {name: counter.get(name, 0) for name in classes.names}


def check_both_classes(rows: Sequence[tuple[ImageRecord, str]], classes: ClassInfo) -> None:
    for split in SPLITS:
        if len({r.label for r, name in rows if name == split}) < 2:
            raise DatasetError(
                f"the {split} split has {counts(rows, split, classes)} images per class: both "
                "classes are needed; add patients or change data.split"
            )


def log_splits(rows: Sequence[tuple[ImageRecord, str]], classes: ClassInfo) -> None:
    """Images, patients and images per class of each split, and its sites where known."""
    for split in SPLITS:
        records = [r for r, name in rows if name == split]
        sites = sorted({r.site for r in records} - {""})
        log.info(
            "%s: %d images, %d patients, per class %s%s",
            split,
            len(records),
            len({r.patient for r in records}),
            counts(rows, split, classes),
            f", sites {sites}" if sites else "",
        )
