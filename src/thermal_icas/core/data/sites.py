"""Where each image was taken (`data.site_from`): a hospital, a camera, a campaign. Sites are
kept in `splits.csv`, stratify the splits and folds with the label, give per-site test metrics,
and with `data.site_folds` each site in turn is the test split (leave one site out), so a
result says how a model does at a site it never saw.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from thermal_icas.core.data.classes import ClassInfo
from thermal_icas.core.data.clinical_table import read_table
from thermal_icas.core.data.records import ImageRecord, find_class_dirs, scan_folder
from thermal_icas.core.errors import ConfigError, DatasetError

# none: one site; folder: data_dir/<site>/<class>/...; regex: data.site_regex on each image's
# path; column: data.site_column of data.clinical_csv, per patient
SITE_SOURCES = ("none", "folder", "regex", "column")


@dataclass(frozen=True)
class Sites:
    """How sites are read: `source` one of SITE_SOURCES, with its regex or table column."""

    source: str = "none"
    regex: str | None = None
    column: str | None = None
    table: str | None = None

    def __post_init__(self) -> None:
        if self.source not in SITE_SOURCES:
            raise ConfigError(f"data.site_from='{self.source}' must be one of {SITE_SOURCES}")
        needed = {"regex": ("site_regex", self.regex), "column": ("site_column", self.column)}
        if self.source in needed and not needed[self.source][1]:
            raise ConfigError(f"data.site_from={self.source} needs data.{needed[self.source][0]}")
        if self.source == "column" and not self.table:
            raise ConfigError("data.site_from=column reads data.clinical_csv, which is not set")

    def roots(self, root: Path) -> list[tuple[str, Path]]:
        """The folders that hold class folders, each with its site (`folder`: each one below
        `root`; otherwise `root` itself, its sites read later)."""
        if self.source != "folder":
            return [("", root)]
        if not root.is_dir():
            raise DatasetError(f"data_dir '{root}' does not exist or is not a folder")
        found = [p for p in sorted(root.iterdir()) if p.is_dir() and not p.name.startswith(".")]
        if not found:
            raise DatasetError(f"data.site_from=folder: '{root}' has no site folders")
        return [(path.name, path) for path in found]

    def class_names(self, root: Path) -> list[str]:
        """The class folders, which every site must have alike."""
        names = {site: find_class_dirs(path) for site, path in self.roots(root)}
        if len({tuple(found) for found in names.values()}) > 1:
            raise DatasetError(f"'{root}': the site folders hold different classes: {names}")
        return next(iter(names.values()))

    def scan(
        self, root: Path, classes: ClassInfo, patient_regex: str, patient_from: str
    ) -> list[ImageRecord]:
        """Every image below `root` with its patient, label and site."""
        records = [
            replace(record, site=site)
            for site, path in self.roots(root)
            for record in scan_folder(path, classes, patient_regex, patient_from)
        ]
        return self.label(records)

    def label(self, records: Sequence[ImageRecord]) -> list[ImageRecord]:
        """The records with their site read by `regex` or `column`; one site per patient."""
        if self.source == "regex":
            records = [replace(r, site=self._matched(r.path)) for r in records]
        elif self.source == "column":
            assert self.table is not None and self.column is not None
            column = read_table(self.table, [self.column], [self.column]).categorical[self.column]
            records = [replace(r, site=self._listed(column, r.patient)) for r in records]
        _one_site_per_patient(records)
        return list(records)

    def _matched(self, path: str) -> str:
        assert self.regex is not None
        try:
            match = re.search(self.regex, path)
        except re.error as error:
            raise ConfigError(f"data.site_regex '{self.regex}' is not valid: {error}") from None
        if match is None or not (match.group(1) if match.re.groups else match.group(0)):
            raise DatasetError(f"data.site_regex '{self.regex}' does not match '{path}'")
        return match.group(1) if match.re.groups else match.group(0)

    def _listed(self, column: dict[str, str | None], patient: str) -> str:
        site = column.get(patient)
        if not site:
            raise DatasetError(
                f"{self.table}: patient '{patient}' has no '{self.column}' (data.site_column)"
            )
        return site


def _one_site_per_patient(records: Sequence[ImageRecord]) -> None:
    """A patient seen at two sites cannot be held out with either: name them."""
    sites: dict[str, set[str]] = defaultdict(set)
    for record in records:
        sites[record.patient].add(record.site)
    mixed = {patient: sorted(found) for patient, found in sites.items() if len(found) > 1}
    if mixed:
        patient, found = next(iter(sorted(mixed.items())))
        raise DatasetError(
            f"{len(mixed)} patient(s) have images from more than one site (e.g. '{patient}' at "
            f"{found}): a site held out would share them; give them distinct ids or one site"
        )


def site_fold(records: Sequence[ImageRecord], fold: int) -> set[str]:
    """The patients of the `fold`-th site in sorted order: leave-one-site-out's test split."""
    sites = sorted({record.site for record in records})
    if len(sites) < 2 or not 0 <= fold < len(sites):
        raise DatasetError(
            f"data.site_folds: data.fold={fold} must lie in [0, {len(sites)}) over the sites "
            f"{sites}; leaving one site out needs at least 2"
        )
    return {record.patient for record in records if record.site == sites[fold]}
