"""Scan a class-per-folder image dataset into labelled, patient-tagged records."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from thermal_icas.errors import DatasetError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
DEFAULT_POSITIVE_CLASS = "icas"


@dataclass(frozen=True)
class ImageRecord:
    path: str
    patient: str
    label: int


@dataclass(frozen=True)
class ClassInfo:
    """Class ids come from sorted names, so they never depend on directory listing order."""

    names: tuple[str, ...]
    positive: str

    @property
    def positive_index(self) -> int:
        return self.names.index(self.positive)

    @property
    def negative(self) -> str:
        return next(name for name in self.names if name != self.positive)

    def predicted(self, prob_positive: float, threshold: float) -> str:
        """The screening decision: positive when the probability exceeds the threshold."""
        return self.positive if prob_positive > threshold else self.negative


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


def resolve_classes(names: list[str], positive_class: str | None, source: str) -> ClassInfo:
    if len(names) != 2:
        raise DatasetError(
            f"{source}: found {len(names)} class folder(s) {names}; "
            "binary screening needs exactly 2"
        )
    if positive_class is None:
        positive_class = DEFAULT_POSITIVE_CLASS if DEFAULT_POSITIVE_CLASS in names else names[-1]
    if positive_class not in names:
        raise DatasetError(
            f"data.positive_class='{positive_class}' is not one of the classes {names}"
        )
    return ClassInfo(names=tuple(names), positive=positive_class)


def patient_id(path: Path, pattern: re.Pattern[str]) -> str:
    match = pattern.match(path.stem)
    if match is None or not (match.group(1) if pattern.groups else match.group(0)):
        raise DatasetError(
            f"data.patient_regex '{pattern.pattern}' does not match the file name '{path.name}' "
            f"({path.parent})"
        )
    return match.group(1) if pattern.groups else match.group(0)


def scan_folder(data_dir: Path, classes: ClassInfo, patient_regex: str) -> list[ImageRecord]:
    """List every image under data_dir/<class>/ with its label and patient id.

    Non-image files are ignored; a patient found in two classes is an error, because it would
    make the patient-level split and the patient's label ambiguous.
    """
    pattern = compile_patient_regex(patient_regex)
    records: list[ImageRecord] = []
    patient_label: dict[str, str] = {}
    for label, name in enumerate(classes.names):
        class_dir = data_dir / name
        if not class_dir.is_dir():
            raise DatasetError(f"class folder '{class_dir}' is missing")
        files = list_images(class_dir)
        if not files:
            raise DatasetError(
                f"class folder '{class_dir}' has no images ({sorted(IMAGE_EXTENSIONS)})"
            )
        for path in files:
            patient = patient_id(path, pattern)
            previous = patient_label.setdefault(patient, name)
            if previous != name:
                raise DatasetError(
                    f"patient '{patient}' has images in both '{previous}' and '{name}' "
                    f"(e.g. {path}); check data.patient_regex"
                )
            records.append(ImageRecord(path=str(path.resolve()), patient=patient, label=label))
    return records
