"""report.html: a run folder's results on one self-contained page, from hand-made run folders
and one real smoke run."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from tests.conftest import ComposeFn, write_image
from tests.pages import Page
from thermal_icas import cli
from thermal_icas.analysis.html_report import write_report
from thermal_icas.core import run_files
from thermal_icas.train.pipeline import run

# images per patient, by (split, class)
SPLITS = {
    ("train", "icas"): [2, 3, 2],
    ("train", "non_icas"): [1, 2, 2, 2, 3],
    ("val", "icas"): [2],
    ("val", "non_icas"): [2, 4],
    ("test", "icas"): [3, 1],
    ("test", "non_icas"): [2, 2, 2],
}
METRICS = {
    "test/patient/auroc": 0.87654,
    "test/patient/auroc_ci_low": 0.70123,
    "test/patient/auroc_ci_high": 0.95432,
    "test/patient/auroc_delong_ci_low": 0.69,
    "test/patient/auroc_delong_ci_high": 0.99,
    "test/patient/sensitivity": 0.5,
    "test/patient/sensitivity_ci_low": 0.1,
    "test/patient/sensitivity_ci_high": 0.9,
    "test/patient/balanced_acc": 0.6667,
    "test/patient/threshold": 0.4321,
    "test/patient/n": 5.0,
    "test/patient/n_positive": 2.0,
    "test/auroc": 0.8123,
    "test/auroc_ci_low": 0.6011,
    "test/auroc_ci_high": 0.9312,
    "test/tp": 3.0,
    "test/fn": 1.0,
    "test/tn": 5.0,
    "test/fp": 1.0,
    "test/attention/in_face": 0.31,
    "test/attention/face_area": 0.52,
    "test/attention/outside_face": 1.0,
}
REGIONS = ["region", "n_icas", "n_non_icas", "mean_icas", "mean_non_icas", "statistic", "p"]
REGIONS += ["p_holm", "effect_size"]
SMOKE = ["experiment=smoke", "model.pretrained=none"]


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def write_png(path: Path, value: int) -> bytes:
    write_image(path, np.full((6, 8, 3), value, np.uint8))
    return path.read_bytes()


@pytest.fixture
def run_dir(compose_cfg: ComposeFn, tmp_path: Path) -> Path:
    """A finished run's folder, written by hand: the real config, no training."""
    folder = tmp_path / "2026-12-01_10-00-00"
    cfg = compose_cfg(["mask=none", "asymmetry=on"], output_dir=folder)
    (folder / run_files.HYDRA_DIR).mkdir(parents=True)
    OmegaConf.save(cfg, folder / run_files.CONFIG)
    (folder / run_files.OVERRIDES).write_text(yaml.safe_dump(["mask=none", "asymmetry=on"]))
    (folder / run_files.METRICS).write_text(json.dumps(METRICS))
    rows = [
        [f"/data/{label}/{split}{label[0]}{p}_{k}.png", f"{split}{label[0]}{p}", label, split]
        for (split, label), sizes in SPLITS.items()
        for p, size in enumerate(sizes)
        for k in range(size)
    ]
    write_csv(folder / run_files.SPLITS, ["path", "patient", "label", "split"], rows)
    patients = [["P1", "icas", 1, 2, 0.71, "icas"], ["P2", "non_icas", 0, 2, 0.62, "icas"]]
    header = ["patient", "label", "positive", "n_images", "score", "predicted"]
    write_csv(folder / run_files.TEST_PATIENTS, header, patients)
    for value, name in enumerate((run_files.ROC, run_files.RELIABILITY, run_files.CONFUSION)):
        write_png(folder / name, 40 * value)
    explain = folder / run_files.EXPLAIN_DIR
    overlays = [["00_icas_correct_P1_0.png", "/data/icas/P1_0.png", "icas", "0.812345"]]
    overlays += [["01_non_icas_wrong_P2_1.png", "/data/non_icas/P2_1.png", "non_icas", "0.6"]]
    for k, row in enumerate(overlays):
        write_png(explain / row[0], 200 + k)
        row += ["correct" if k == 0 else "wrong", "0.4", "0.3"]
    header = ["file", "path", "label", "prob_positive", "outcome", "in_face", "sparsity"]
    write_csv(explain / run_files.EXPLAIN_INDEX, header, overlays)
    return folder


def report(folder: Path) -> Page:
    return Page(write_report(folder).read_text(encoding="utf-8"))


def test_patient_auroc_and_its_interval_are_shown(run_dir: Path) -> None:
    page = report(run_dir)
    patients = page.table("Patients")
    assert ["AUROC", "0.877", "[0.701, 0.954]; DeLong [0.690, 0.990]"] in patients
    assert ["sensitivity", "0.500", "[0.100, 0.900]"] in patients
    assert ["threshold (chosen on val)", "0.432", ""] in patients
    assert ["patients", "5 (2 positive)", ""] in patients
    images = page.table("Images")
    assert ["AUROC", "0.812", "[0.601, 0.931]"] in images
    assert ["images", "10", ""] in images
    assert "threshold chosen on the validation patients" in page.text
    settings = dict(map(tuple, page.table("Settings")[1:]))
    assert settings["mask"].startswith("NoMask")
    assert settings["asymmetry"] == "on, fusion siamese, align mirror"
    assert settings["attention"] == "off"
    assert settings["seed"] == "42"
    assert page.tags("h1") and run_dir.name in page.text and "Finished 20" in page.text


def test_every_image_is_embedded_and_nothing_is_fetched(run_dir: Path) -> None:
    page = report(run_dir)
    embedded = page.images()
    for name in (run_files.ROC, run_files.RELIABILITY, run_files.CONFUSION):
        assert (run_dir / name).read_bytes() in embedded, name
    overlays = sorted((run_dir / run_files.EXPLAIN_DIR).glob("*.png"))
    assert all(path.read_bytes() in embedded for path in overlays)
    assert len(embedded) == 3 + len(overlays)
    assert page.links_out() == []
    assert "icas, p=0.81: CORRECT, in_face 0.40 | P1_0.png" in page.text
    assert "non_icas, p=0.60: WRONG" in page.text


def test_split_counts_match_splits_csv(run_dir: Path) -> None:
    with (run_dir / run_files.SPLITS).open() as handle:
        rows = list(csv.DictReader(handle))
    images = Counter((row["split"], row["label"]) for row in rows)
    distinct = {(row["split"], row["label"], row["patient"]) for row in rows}
    patients = Counter((split, label) for split, label, _ in distinct)
    header, *table = report(run_dir).table("Data")
    assert header[0] == "split" and [row[0] for row in table] == ["train", "val", "test"]
    for row in table:
        cells = dict(zip(header, row, strict=True))
        split = row[0]
        for label in ("icas", "non_icas"):
            assert int(cells[f"{label} images"]) == images[split, label]
            assert int(cells[f"{label} patients"]) == patients[split, label]
            assert int(cells[f"{label} patients"]) == len(SPLITS[split, label])
        assert int(cells["all images"]) == images[split, "icas"] + images[split, "non_icas"]


def test_missing_files_give_notes_not_errors(run_dir: Path) -> None:
    (run_dir / run_files.ROC).unlink()
    page = report(run_dir)
    assert "roc.png is missing: not shown." in page.text
    assert len(page.images()) == 2 + 2
    assert "No cohort explanation (explain/cohort/)" in page.text

    bare = run_dir.parent / "bare"
    bare.mkdir()
    page = report(bare)
    for missing in ("No metrics.json", "splits.csv is missing", "index.csv is missing"):
        assert missing in page.text
    assert page.images() == []


def test_values_from_files_are_escaped(run_dir: Path) -> None:
    trick = "<script>alert(1)</script>"
    (run_dir / run_files.OVERRIDES).write_text(yaml.safe_dump([f"data.palette={trick}"]))
    header = ["patient", "label", "positive", "n_images", "score", "predicted"]
    write_csv(run_dir / run_files.TEST_PATIENTS, header, [[f'P"1{trick}', "icas", 1, 1, 0.5, "x"]])
    source = write_report(run_dir).read_text()
    page = Page(source)
    assert trick not in source
    assert page.tags("script") == []
    assert f"data.palette={trick}" in page.text
    assert f'P"1{trick}' in page.text


def test_shortcut_alarm_and_cohort_regions_are_shown(run_dir: Path) -> None:
    page = report(run_dir)
    assert "SHORTCUT ALARM: test/attention/outside_face = 1" in page.text
    assert page.table("Where the model looks (shortcut checks)")[1:3] == [
        ["test/attention/in_face", "0.310"],
        ["test/attention/face_area", "0.520"],
    ]

    metrics = {**METRICS, "test/attention/outside_face": 0.0}
    (run_dir / run_files.METRICS).write_text(json.dumps(metrics))
    maps = write_png(run_dir / run_files.COHORT_MAPS, 99)
    regions = [["cheek_left", 12, 24, 0.41234, 0.3, 2.5, 0.0012345, 0.0049, 0.8]]
    write_csv(run_dir / run_files.COHORT_REGIONS, REGIONS, regions)
    page = report(run_dir)
    assert "SHORTCUT ALARM" not in page.text and "No shortcut alarm" in page.text
    assert maps in page.images()
    header, row = page.table("Cohort explanation")
    assert header == REGIONS
    assert row == [
        "cheek_left",
        "12",
        "24",
        "0.412",
        "0.300",
        "2.500",
        "0.00123",
        "0.0049",
        "0.800",
    ]


def test_unreadable_files_name_themselves(run_dir: Path) -> None:
    (run_dir / run_files.METRICS).write_text("{not json")
    with pytest.raises(ValueError, match=r"metrics\.json cannot be read"):
        write_report(run_dir)
    write_csv(run_dir / run_files.SPLITS, ["path", "patient"], [["a.png", "P1"]])
    (run_dir / run_files.METRICS).write_text("{}")
    with pytest.raises(ValueError, match=r"splits\.csv lacks the column\(s\) label, split"):
        write_report(run_dir)


def test_script_writes_the_report_and_fails_on_a_missing_folder(
    run_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["report", str(run_dir)])
    assert capsys.readouterr().out.strip() == str(run_dir / run_files.REPORT)
    assert (run_dir / run_files.REPORT).read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(SystemExit, match=r"^error: run folder .*absent does not exist"):
        cli.main(["report", str(run_dir / "absent")])


@pytest.mark.slow
def test_a_smoke_run_writes_its_report_after_metrics(compose_cfg: ComposeFn) -> None:
    cfg = compose_cfg(SMOKE)
    metrics = run(cfg)
    out = Path(cfg.paths.output_dir)
    saved = (out / run_files.METRICS).read_bytes()
    written = out / run_files.REPORT
    assert written.stat().st_mtime_ns >= (out / run_files.METRICS).stat().st_mtime_ns
    assert json.loads(saved) == pytest.approx(metrics)

    page = Page(written.read_text())
    auroc = f"{metrics['test/patient/auroc']:.3f}"
    interval = f"[{metrics['test/patient/auroc_ci_low']:.3f}, "
    assert any(
        row[:2] == ["AUROC", auroc] and row[2].startswith(interval)
        for row in page.table("Patients")
    )
    with (out / run_files.EXPLAIN_DIR / run_files.EXPLAIN_INDEX).open() as handle:
        overlays = len(list(csv.DictReader(handle)))
    assert len(page.images()) == 3 + overlays
    assert page.links_out() == []

    cli.main(["report", str(out)])
    assert (out / run_files.METRICS).read_bytes() == saved
    assert Page(written.read_text()).table("Patients") == page.table("Patients")


def test_the_runs_warnings_come_first_once_each(run_dir: Path) -> None:
    leak = "1 pair(s) of images of different patients look the same, 1 of them across splits"
    small = "the test split has 2 positive and 3 negative patients: intervals are approximate"
    lines = [
        "[2026-12-01 10:00:00,000][thermal_icas.train.pipeline][INFO] - Report: here",
        f"[2026-12-01 10:00:01,000][thermal_icas.core.data.duplicates][WARNING] - {leak}",
        f"[2026-12-01 10:00:02,000][thermal_icas.core.evaluation.evaluate][WARNING] - {small}",
        f"[2026-12-01 10:00:03,000][thermal_icas.core.data.duplicates][WARNING] - {leak}",
    ]
    (run_dir / "train.log").write_text("\n".join(lines) + "\n")
    text = report(run_dir).text
    assert "Warnings (2)" in text and text.count("look the same") == 1
    assert text.index(leak) < text.index(small) < text.index("Settings")
    assert "Report: here" not in text

    (run_dir / "train.log").write_text(lines[0] + "\n")
    assert "The run logged no warning." in report(run_dir).text
    (run_dir / "train.log").unlink()
    assert "No job log" in report(run_dir).text


def test_the_report_names_the_positive_class_splits_csv_marks(run_dir: Path) -> None:
    assert "Positive (ICAS) class: not recorded" in report(run_dir).text
    with (run_dir / run_files.SPLITS).open() as handle:
        rows = list(csv.DictReader(handle))
    marked = [[*row.values(), int(row["label"] == "icas")] for row in rows]
    write_csv(run_dir / run_files.SPLITS, [*rows[0], "positive"], marked)
    assert "Positive (ICAS) class: 'icas'" in report(run_dir).text


def test_the_acquisition_audit_is_shown_with_its_alarm(run_dir: Path) -> None:
    assert "the run predates the acquisition audit" in report(run_dir).text
    header = ["property", "auroc", "mean_non_icas", "mean_icas"]
    rows = [["palette=inferno", "1", "1", "0"], ["width", "0.5", "512", "512"]]
    write_csv(run_dir / run_files.ACQUISITION, header, rows)
    audit = {"data/acquisition_auroc": 0.98, "data/acquisition_auroc_ci_high": 1.0}
    for low, alarmed in ((0.91, True), (0.42, False)):
        metrics = {**METRICS, **audit, "data/acquisition_auroc_ci_low": low}
        (run_dir / run_files.METRICS).write_text(json.dumps(metrics))
        page = report(run_dir)
        assert f"AUROC 0.980 [{low:.3f}, 1.000]" in page.text
        assert ("ACQUISITION ALARM" in page.text) == alarmed
        assert page.table("How the images were captured, by class")[1][0] == "palette=inferno"


def test_each_site_gets_a_row(run_dir: Path) -> None:
    sites = {
        "test/site/north/patient/n": 3.0,
        "test/site/north/patient/n_positive": 1.0,
        "test/site/north/patient/auroc": 0.5,
        "test/site/north/patient/auroc_ci_low": 0.1,
        "test/site/north/patient/auroc_ci_high": 0.9,
        "test/site/north/patient/sensitivity": 1.0,
        "test/site/north/patient/specificity": 0.5,
        "test/site/south/patient/n": 2.0,
        "test/site/south/patient/n_positive": 0.0,
    }
    (run_dir / run_files.METRICS).write_text(json.dumps({**METRICS, **sites}))
    header, north, south = report(run_dir).table("Per site (patients)")
    assert header[0] == "site" and north[:3] == ["north", "3 (1 positive)", "0.500 [0.100, 0.900]"]
    assert south[0] == "south" and south[2] == "n/a: one class"
