"""A clinical table: one row per patient, read and checked before any work starts.

The file is a CSV, as a spreadsheet saves it: the separator (`,`, `;` or tab) is the one that
splits the header into the most columns, a byte-order mark is dropped, and a column whose
numbers all use a decimal comma (`23,5`) reads as numbers; the log says what was detected. It
has a `patient` column matching the image file names' patient ids and any
number of covariates. A column whose values all read as numbers is numeric; one where most do
but some do not is refused (a typo, not a category); any other is categorical. Cells that are
empty or read NA, N/A, NaN, null, None or ? are missing, and imputed later from the training
split alone (`ClinicalFeatures`).
"""

from __future__ import annotations

import codecs
import csv
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from thermal_icas.core.errors import DatasetError

log = logging.getLogger(__name__)

PATIENT = "patient"
SEPARATORS = (",", ";", "\t")
DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+$")
MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})


@dataclass(frozen=True)
class ClinicalTable:
    """Covariates per patient: `numeric` columns as floats (nan = missing), `categorical` ones as
    strings (None = missing), in the file's column order."""

    source: str
    numeric: dict[str, dict[str, float]]
    categorical: dict[str, dict[str, str | None]]

    @property
    def patients(self) -> set[str]:
        columns = [*self.numeric.values(), *self.categorical.values()]
        return set(columns[0]) if columns else set()

    @property
    def columns(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    def require(self, patients: Sequence[str]) -> None:
        """Every patient with images needs a row: a patient without covariates cannot be
        scored by the clinical arms, and dropping them would change the splits."""
        missing = sorted(set(patients) - self.patients)
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise DatasetError(
                f"{self.source}: no row for {len(missing)} of {len(set(patients))} patients "
                f"with images ({shown}); add a row per patient (missing values may be left empty)"
            )


def is_missing(value: str) -> bool:
    return value.strip().lower() in MISSING


def read_table(
    path: str | Path,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
) -> ClinicalTable:
    """The table at `path`, with `columns` (all but `patient` if None); `categorical` columns are
    one-hot even if their values read as numbers (e.g. a site code)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DatasetError(f"data.clinical_csv='{path}' is not a file")
    text, encoding = _decoded(path.read_bytes())
    separator = max(SEPARATORS, key=text.partition("\n")[0].count)
    reader = csv.DictReader(text.splitlines(), delimiter=separator)
    header = [name.strip() for name in reader.fieldnames or []]
    rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    read_as = f"separator {separator!r}, {encoding}"
    if PATIENT not in header:
        raise DatasetError(
            f"{path}: no '{PATIENT}' column (columns: {', '.join(header)}; read with {read_as})"
        )
    chosen = [name for name in header if name != PATIENT] if columns is None else list(columns)
    unknown = [name for name in [*chosen, *categorical] if name not in header or name == PATIENT]
    if unknown:
        raise DatasetError(
            f"{path}: clinical.columns/categorical name {', '.join(unknown)}, which the file "
            f"does not have as covariates (columns: {', '.join(header)})"
        )
    if not chosen:
        raise DatasetError(f"{path}: no covariate columns beside '{PATIENT}'")
    patients = _patient_ids(path, rows)
    numeric: dict[str, dict[str, float]] = {}
    kinds: dict[str, dict[str, str | None]] = {}
    commas = [n for n in chosen if _decimal_commas(path, n, [row.get(n, "") for row in rows])]
    log.info("%s: %s%s", path, read_as, f", decimal commas in {', '.join(commas)}" * bool(commas))
    for name in chosen:
        values = [row.get(name, "") for row in rows]
        values = [v.replace(",", ".") for v in values] if name in commas else values
        parsed = None if name in categorical else _as_numbers(path, name, values, patients)
        if parsed is not None:
            numeric[name] = dict(zip(patients, parsed, strict=True))
        else:
            cells = zip(patients, values, strict=True)
            kinds[name] = {p: None if is_missing(v) else v for p, v in cells}
    table = ClinicalTable(str(path), numeric, kinds)
    _refuse_constant(table)
    return table


def _decoded(raw: bytes) -> tuple[str, str]:
    """The file's text and how it was encoded: UTF-8 (with or without the byte-order mark
    spreadsheets write), else the Windows code page older spreadsheets save in."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), "not UTF-8: read as Windows-1252"
    return text, "UTF-8 with a byte-order mark" if raw.startswith(codecs.BOM_UTF8) else "UTF-8"


def _patient_ids(path: Path, rows: list[dict[str, str]]) -> list[str]:
    patients = [row[PATIENT] for row in rows]
    seen: set[str] = set()
    for line, patient in enumerate(patients, start=2):
        if not patient:
            raise DatasetError(f"{path}, line {line}: empty '{PATIENT}'")
        if patient in seen:
            raise DatasetError(f"{path}, line {line}: patient '{patient}' has a second row")
        seen.add(patient)
    return patients


def _as_numbers(
    path: Path, name: str, values: list[str], patients: list[str]
) -> list[float] | None:
    """The column as floats, None if it is categorical; a mostly numeric column with a value
    that is not a number is refused, naming the cell."""
    present = [(i, v) for i, v in enumerate(values) if not is_missing(v)]
    numbers = {i: _number(v) for i, v in present}
    bad = [(i, values[i]) for i, n in numbers.items() if n is None]
    if len(bad) == len(present) or 2 * len(bad) > len(present):
        return None
    if bad:
        i, value = bad[0]
        raise DatasetError(
            f"{path}, line {i + 2} (patient {patients[i]}): '{value}' in column '{name}' is not "
            f"a number, while {len(present) - len(bad)} of its values are; fix it, leave it "
            f"empty (missing) or list '{name}' in clinical.categorical"
        )
    return [math.nan if numbers.get(i) is None else float(numbers[i]) for i in range(len(values))]


def _decimal_commas(path: Path, name: str, values: list[str]) -> bool:
    """Whether the column writes its numbers with a decimal comma (a spreadsheet's locale); a
    column that mixes `23,5` with `24.1` is refused, as either reading could be wrong."""
    commas = [i for i, v in enumerate(values) if DECIMAL_COMMA.match(v)]
    points = [i for i, v in enumerate(values) if "." in v and _number(v) is not None]
    if commas and points:
        raise DatasetError(
            f"{path}: column '{name}' mixes decimal commas ('{values[commas[0]]}', line "
            f"{commas[0] + 2}) and points ('{values[points[0]]}', line {points[0] + 2}); "
            "write its numbers one way"
        )
    return bool(commas)


def _number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _refuse_constant(table: ClinicalTable) -> None:
    """A column with one value (or none) cannot tell patients apart, and cannot be scaled."""
    for name, column in [*table.numeric.items(), *table.categorical.items()]:
        present = {v for v in column.values() if v is not None and v == v}
        if len(present) < 2:
            only = f"the single value {next(iter(present))!r}" if present else "no values"
            raise DatasetError(
                f"{table.source}: column '{name}' has {only} in every row; drop it from "
                "clinical.columns"
            )
