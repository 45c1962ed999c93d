"""Sites (hospitals, cameras): read from folders, paths or the clinical table, kept in
splits.csv, stratifying the splits, held out one at a time, and scored one by one."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_toy_dataset, thermal_data
from thermal_icas.core.data.sites import Sites
from thermal_icas.core.errors import ConfigError, DatasetError
from thermal_icas.core.evaluation import EvalSettings, Scores
from thermal_icas.core.evaluation.evaluate import site_metrics


def _two_sites(root: Path, sizes: tuple[int, int] = (8, 16)) -> Path:
    for site in ("north", "south"):
        make_toy_dataset(
            root / site, {"icas": sizes[0], "non_icas": sizes[1]}, size=16, prefix=site
        )
    return root


def _sites_of(data: object, split: str) -> set[str]:
    return {record.site for record in data.records(split)}  # type: ignore[attr-defined]


def test_site_folders_are_read_kept_and_stratify_the_splits(tmp_path: Path) -> None:
    root = _two_sites(tmp_path / "d")
    data = thermal_data(tmp_path, data_dir=str(root), site_from="folder")
    data.setup()
    assert data.classes is not None and data.classes.names == ("icas", "non_icas")
    for split in ("train", "val", "test"):
        assert _sites_of(data, split) == {"north", "south"}
    assert all(record.patient.startswith(record.site) for record, _ in data.rows)
    data.write_splits(tmp_path / "run")
    with (tmp_path / "run" / "splits.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {(row["patient"][:5], row["site"]) for row in rows} == {
        ("north", "north"),
        ("south", "south"),
    }
    saved = str(tmp_path / "run" / "splits.csv")
    reused = thermal_data(tmp_path, data_dir=str(root), site_from="folder", split_file=saved)
    reused.setup()
    assert [r.site for r, _ in reused.rows] == [r.site for r, _ in data.rows]


def test_sites_from_a_path_regex_or_a_table_column(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 8, "non_icas": 16}, size=16)
    by_regex = thermal_data(
        tmp_path, data_dir=str(root), site_from="regex", site_regex=r"/([IN])0\d\d_"
    )
    by_regex.setup()
    assert {r.site for r, _ in by_regex.rows} == {"I", "N"}

    patients = sorted({path.stem.split("_")[0] for path in root.rglob("*.png")})
    table = tmp_path / "clinical.csv"
    table.write_text(
        "patient,hospital\n"
        + "".join(f"{p},{'A' if i % 2 else 'B'}\n" for i, p in enumerate(patients))
    )
    by_column = thermal_data(
        tmp_path,
        data_dir=str(root),
        site_from="column",
        site_column="hospital",
        clinical_csv=str(table),
    )
    by_column.setup()
    assert {r.site for r, _ in by_column.rows} == {"A", "B"}


def test_leaving_one_site_out_tests_on_that_site_alone(tmp_path: Path) -> None:
    root = _two_sites(tmp_path / "d")
    for fold, site in enumerate(("north", "south")):
        data = thermal_data(
            tmp_path, data_dir=str(root), site_from="folder", site_folds=True, fold=fold
        )
        data.setup()
        assert _sites_of(data, "test") == {site}
        assert _sites_of(data, "train") == _sites_of(data, "val") == {"north", "south"} - {site}
    with pytest.raises(DatasetError, match=r"data\.fold=2 must lie in \[0, 2\)"):
        thermal_data(
            tmp_path, data_dir=str(root), site_from="folder", site_folds=True, fold=2
        ).setup()
    with pytest.raises(DatasetError, match=r"excludes data\.num_folds"):
        thermal_data(
            tmp_path, data_dir=str(root), site_from="folder", site_folds=True, num_folds=5
        ).setup()


def test_a_patient_at_two_sites_and_sites_with_other_classes_are_refused(tmp_path: Path) -> None:
    root = _two_sites(tmp_path / "d")
    twin = next((root / "north" / "icas").glob("*.png"))
    (root / "south" / "icas" / twin.name).write_bytes(twin.read_bytes())
    with pytest.raises(DatasetError, match=r"have images from more than one site"):
        thermal_data(tmp_path, data_dir=str(root), site_from="folder").setup()

    other = _two_sites(tmp_path / "e")
    (other / "south" / "non_icas").rename(other / "south" / "control")
    with pytest.raises(DatasetError, match="the site folders hold different classes"):
        thermal_data(tmp_path, data_dir=str(other), site_from="folder").setup()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"source": "hospital"}, "data.site_from='hospital' must be one of"),
        ({"source": "regex"}, "data.site_from=regex needs data.site_regex"),
        ({"source": "column", "column": "site"}, "reads data.clinical_csv, which is not set"),
    ],
)
def test_site_settings_are_checked(settings: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Sites(**settings)


def test_each_site_is_scored_on_its_own_patients() -> None:
    patients = Scores(
        np.array(["a1", "a2", "a3", "a4", "b1", "b2", "c1"]),
        np.array([1, 1, 0, 0, 1, 0, 0]),
        np.array([0.9, 0.8, 0.2, 0.1, 0.3, 0.7, 0.4]),
        np.ones(7, dtype=int),
    )
    sites = {"a1": "A", "a2": "A", "a3": "A", "a4": "A", "b1": "B b", "b2": "B b", "c1": "C"}
    metrics = site_metrics(patients, sites, 0.5, EvalSettings(n_bootstrap=200))
    assert metrics["test/site/A/patient/auroc"] == 1.0
    assert metrics["test/site/B_b/patient/auroc"] == 0.0
    assert metrics["test/site/B_b/patient/sensitivity"] == 0.0
    assert metrics["test/site/A/patient/n"] == 4 and metrics["test/site/C/patient/n"] == 1
    assert "test/site/C/patient/auroc" not in metrics
    assert metrics["test/site/A/patient/auroc_ci_low"] <= 1.0
