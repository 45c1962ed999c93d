"""Scan a class-per-folder image dataset into labelled, patient-tagged records."""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from thermal_icas.core.data.classes import ClassInfo
from thermal_icas.core.errors import ConfigError, DatasetError

log = logging.getLogger(__name__)

# pictures, and .npy arrays of temperatures (data.format=celsius)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".npy"})
# data.patient_from: where a patient id is read
PATIENT_SOURCES = ("filename", "folder", "auto")
# ids look per-image when more than this share of them has a single image, in a dataset of at
# least PER_IMAGE_MIN_IDS ids (a real cohort has several images per patient)
PER_IMAGE_SHARE = 0.9
PER_IMAGE_MIN_IDS = 20


@dataclass(frozen=True)
class ImageRecord:
    path: str
    patient: str
    label: int
    # where it was taken (`data.site_from`); empty when sites are not known
    site: str = ""


def is_image_file(path: Path) -> bool:
    """Hidden files (e.g. macOS `._P017_1.jpg` resource forks) are not images whatever their
    suffix."""
    suffix = path.suffix.lower()
    return path.is_file() and not path.name.startswith(".") and suffix in IMAGE_EXTENSIONS


def list_images(folder: Path) -> list[Path]:
    """The images anywhere under folder, sorted; those in hidden folders such as
    `.ipynb_checkpoints/` or `.thumbnails/` are copies, not more images."""
    return sorted(
        path
        for path in folder.rglob("*")
        if is_image_file(path)
        and not any(part.startswith(".") for part in path.relative_to(folder).parent.parts)
    )


def compile_patient_regex(patient_regex: str) -> re.Pattern[str]:
    try:
        return re.compile(patient_regex)
    except re.error as error:
        raise DatasetError(
            f"data.patient_regex '{patient_regex}' is not a valid regular expression: {error}"
        ) from None


def find_class_dirs(data_dir: Path) -> list[str]:
    if not data_dir.is_dir():
        raise DatasetError(f"data_dir '{data_dir}' does not exist or is not a folder")
    names = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not names:
        raise DatasetError(
            f"data_dir '{data_dir}' has no class folders (expected e.g. icas/ and non_icas/)"
        )
    return names


def patient_id(path: Path, pattern: re.Pattern[str]) -> str:
    match = pattern.match(path.stem)
    if match is None or not (match.group(1) if pattern.groups else match.group(0)):
        raise DatasetError(
            f"data.patient_regex '{pattern.pattern}' does not match the file name '{path.name}' "
            f"({path.parent})"
        )
    return match.group(1) if pattern.groups else match.group(0)


def patient_source(patient_from: str, images: Sequence[tuple[Path, Path]]) -> str:
    """`filename` or `folder` for these (base folder, image) pairs. `auto` is `folder` when
    every image sits in a sub-folder of its base (the per-patient layout `icas/<patient>/...`),
    else `filename`, so a flat folder of `<patient>_<image>.jpg` keeps reading the file names."""
    if patient_from not in PATIENT_SOURCES:
        raise ConfigError(
            f"data.patient_from='{patient_from}' is not one of {list(PATIENT_SOURCES)}"
        )
    if patient_from != "auto":
        return patient_from
    nested = bool(images) and all(path.parent != base for base, path in images)
    return "folder" if nested else "filename"


def patient_of(base: Path, path: Path, source: str, pattern: re.Pattern[str]) -> str:
    """The patient id of one image: its sub-folder directly under base (`folder`), or the
    regex on its stem (`filename`)."""
    if source == "filename":
        return patient_id(path, pattern)
    parts = path.relative_to(base).parts
    if len(parts) < 2:
        raise DatasetError(
            f"data.patient_from=folder reads the patient from the sub-folder of '{base}', but "
            f"'{path}' sits directly in it; move it into its patient's folder or set "
            "data.patient_from=filename"
        )
    return parts[0]


def read_patients(
    images: Sequence[tuple[Path, Path]], patient_from: str, patient_regex: str, where: str
) -> list[str]:
    """Each (base folder, image) pair's patient id, saying which source was used and warning
    when the ids look like one per image."""
    source = patient_source(patient_from, images)
    pattern = compile_patient_regex(patient_regex)
    ids = same_case([patient_of(base, path, source, pattern) for base, path in images], where)
    described = "sub-folder names" if source == "folder" else f"file names ('{patient_regex}')"
    log.info("%s: patient ids from the %s (data.patient_from=%s)", where, described, patient_from)
    per_patient = Counter(ids)
    single = sum(count == 1 for count in per_patient.values())
    if len(per_patient) >= PER_IMAGE_MIN_IDS and single > PER_IMAGE_SHARE * len(per_patient):
        nested = any(path.parent != base for base, path in images)
        fix = (
            "if a patient's images share a sub-folder, set data.patient_from=folder"
            if source == "filename" and nested
            else f"check data.patient_from ({source}) and data.patient_regex"
        )
        log.warning(
            "%s: %d of %d patient ids (more than %.0f%%) have a single image, as if each image "
            "were its own patient: then one person's images leak across splits; %s",
            where,
            single,
            len(per_patient),
            100 * PER_IMAGE_SHARE,
            fix,
        )
    return ids


def same_case(ids: list[str], where: str) -> list[str]:
    """Ids that differ only in case (`P017`, `p017`) are one patient, spelt as the first in
    sorted order: kept apart, one person's images could sit in train and test."""
    spelling: dict[str, str] = {}
    for patient in sorted(set(ids)):
        spelling.setdefault(patient.casefold(), patient)
    merged = sorted({p for p in ids if spelling[p.casefold()] != p})
    if merged:
        pairs = ", ".join(f"'{p}' as '{spelling[p.casefold()]}'" for p in merged[:5])
        log.warning(
            "%s: %d patient id(s) differ from another only in case and are read as one patient "
            "(%s%s)",
            where,
            len(merged),
            pairs,
            ", ..." if len(merged) > 5 else "",
        )
    return [spelling[p.casefold()] for p in ids]


def scan_folder(
    data_dir: Path, classes: ClassInfo, patient_regex: str, patient_from: str = "filename"
) -> list[ImageRecord]:
    """List every image under data_dir/<class>/ with its label and patient id
    (`data.patient_from`, `read_patients`).

    Non-image files are ignored; a patient found in two classes is an error, because it would
    make the patient-level split and the patient's label ambiguous.
    """
    images: list[tuple[Path, Path, int]] = []
    for label, name in enumerate(classes.names):
        class_dir = data_dir / name
        if not class_dir.is_dir():
            raise DatasetError(f"class folder '{class_dir}' is missing")
        files = list_images(class_dir)
        if not files:
            raise DatasetError(
                f"class folder '{class_dir}' has no images ({sorted(IMAGE_EXTENSIONS)})"
            )
        images += [(class_dir, path, label) for path in files]
    ids = read_patients(
        [(base, path) for base, path, _ in images], patient_from, patient_regex, str(data_dir)
    )
    records: list[ImageRecord] = []
    patient_label: dict[str, str] = {}
    for (_, path, label), patient in zip(images, ids, strict=True):
        name = classes.names[label]
        previous = patient_label.setdefault(patient, name)
        if previous != name:
            raise DatasetError(
                f"patient '{patient}' has images in both '{previous}' and '{name}' "
                f"(e.g. {path}); check data.patient_from and data.patient_regex"
            )
        records.append(ImageRecord(path=str(path.resolve()), patient=patient, label=label))
    return records
