"""Patient-level splits stratified by label (and by site where sites are known): no patient's
images may straddle two splits."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from thermal_icas.core.data.classes import ClassInfo
from thermal_icas.core.data.records import ImageRecord
from thermal_icas.core.errors import DatasetError

SPLITS = ("train", "val", "test")
SPLIT_COLUMNS = ("path", "patient", "label", "split")
# written too: 1 on the rows of the positive class, so that predict and export read the
# positive class the run was trained with rather than choosing it again; and the site
SPLIT_POSITIVE = "positive"
SPLIT_SITE = "site"


def split_patients(
    records: Sequence[ImageRecord], fractions: Mapping[str, float], seed: int
) -> dict[str, str]:
    """Assign every patient to a split, stratified by the patient's label and site.

    Each stratum's patients are shuffled with a seeded generator and cut by the fractions, so
    every split gets both classes whenever a class has enough patients.
    """
    names = [name for name in SPLITS if fractions.get(name, 0.0) > 0]
    total = sum(fractions[name] for name in names)
    if "train" not in names or total <= 0:
        raise DatasetError(f"data.split must give 'train' a positive share, got {dict(fractions)}")
    shares = [fractions[name] / total for name in names]

    by_stratum: dict[tuple[str, int], list[str]] = defaultdict(list)
    for patient, label, site in sorted({(r.patient, r.label, r.site) for r in records}):
        by_stratum[site, label].append(patient)

    rng = np.random.default_rng(seed)
    assignment: dict[str, str] = {}
    for stratum in sorted(by_stratum):
        patients = by_stratum[stratum]
        order = rng.permutation(len(patients))
        counts = _split_counts(len(patients), shares)
        start = 0
        for name, count in zip(names, counts, strict=True):
            for index in order[start : start + count]:
                assignment[patients[index]] = name
            start += count
    return assignment


def fold_patients(
    records: Sequence[ImageRecord],
    fractions: Mapping[str, float],
    seed: int,
    num_folds: int,
    fold: int,
) -> dict[str, str]:
    """Patient-grouped, label- (and site-) stratified k-fold: fold `fold` is the test split.

    scikit-learn's StratifiedGroupKFold (seeded) keeps each patient's images in one fold and
    each fold's class ratio near the cohort's, so a sweep over `fold` puts every patient in test
    exactly once; the other folds' patients are split into train and val by the train:val
    shares.
    """
    if num_folds < 2 or not 0 <= fold < num_folds:
        raise DatasetError(
            f"data.fold={fold} must lie in [0, data.num_folds) with data.num_folds >= 2, "
            f"got data.num_folds={num_folds}"
        )
    per_class = Counter(label for _, label in {(r.patient, r.label) for r in records})
    for label, count in sorted(per_class.items()):
        if count < num_folds:
            raise DatasetError(
                f"class {label} has {count} patients, fewer than data.num_folds="
                f"{num_folds}: every fold needs patients of both classes"
            )
    ordered = sorted(records, key=lambda r: (r.patient, r.path))
    folds = StratifiedGroupKFold(n_splits=num_folds, shuffle=True, random_state=seed % 2**32)
    groups = [r.patient for r in ordered]
    strata = sorted({(r.site, r.label) for r in ordered})
    codes = [strata.index((r.site, r.label)) for r in ordered]
    _, test_index = list(folds.split(np.zeros(len(ordered)), codes, groups))[fold]
    return train_val_around({groups[i] for i in test_index}, records, fractions, seed)


def train_val_around(
    test: set[str], records: Sequence[ImageRecord], fractions: Mapping[str, float], seed: int
) -> dict[str, str]:
    """`test` patients in test; the others split into train and val by their shares."""
    rest = [r for r in records if r.patient not in test]
    shares = {name: fractions.get(name, 0.0) for name in ("train", "val")}
    assignment = split_patients(rest, shares, seed)
    assignment.update(dict.fromkeys(test, "test"))
    return assignment


def permute_labels(
    rows: Sequence[tuple[ImageRecord, str]], splits: Sequence[str], seed: int
) -> list[int]:
    """Each image's label after shuffling labels across the patients of each of `splits`.

    A patient's images keep one label and each split keeps its class counts; other splits are
    untouched. Trained on such labels, a model can only score chance on test: the null run.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    new_label: dict[str, int] = {}
    for split in splits:
        patients = sorted({(r.patient, r.label) for r, name in rows if name == split})
        shuffled = rng.permutation([label for _, label in patients])
        new_label.update(
            {patient: int(label) for (patient, _), label in zip(patients, shuffled, strict=True)}
        )
    return [new_label.get(record.patient, record.label) for record, _ in rows]


def _split_counts(n: int, shares: Sequence[float]) -> list[int]:
    """Round each non-train share, keeping at least one patient per split when n allows."""
    counts = [0] + [round(n * share) for share in shares[1:]]
    if n >= len(shares):
        counts = [0] + [max(1, c) for c in counts[1:]]
    counts[0] = n - sum(counts[1:])
    if counts[0] < 1:
        counts = [n] + [0] * (len(shares) - 1)
    return counts


def check_disjoint(rows: Sequence[tuple[ImageRecord, str]]) -> None:
    seen: dict[str, str] = {}
    for record, split in rows:
        other = seen.setdefault(record.patient, split)
        if other != split:
            raise DatasetError(f"patient '{record.patient}' is in both '{other}' and '{split}'")


def write_splits(path: Path, rows: Sequence[tuple[ImageRecord, str]], classes: ClassInfo) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*SPLIT_COLUMNS, SPLIT_POSITIVE, SPLIT_SITE])
        for record, split in rows:
            positive = int(record.label == classes.positive_index)
            label = classes.names[record.label]
            writer.writerow([record.path, record.patient, label, split, positive, record.site])


def read_splits(path: Path, classes: ClassInfo) -> list[tuple[ImageRecord, str]]:
    """Load a saved split so that several runs can share exactly the same patients."""
    if not path.is_file():
        raise DatasetError(f"data.split_file '{path}' does not exist")
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(SPLIT_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(f"data.split_file '{path}' lacks the columns {sorted(missing)}")
        rows = []
        for line, row in enumerate(reader, start=2):
            if row["label"] not in classes.names or row["split"] not in SPLITS:
                raise DatasetError(
                    f"{path}:{line}: label '{row['label']}' or split '{row['split']}' is unknown "
                    f"(classes {list(classes.names)}, splits {list(SPLITS)})"
                )
            if not Path(row["path"]).is_file():
                raise DatasetError(f"{path}:{line}: image '{row['path']}' does not exist")
            label = classes.names.index(row["label"])
            record = ImageRecord(row["path"], row["patient"], label, row.get(SPLIT_SITE) or "")
            rows.append((record, row["split"]))
    check_disjoint(rows)
    return rows
