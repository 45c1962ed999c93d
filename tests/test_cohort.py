"""Cohort-level explanations: region geometry, per-patient statistics, the script on a run."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.conftest import ComposeFn
from thermal_icas import cli
from thermal_icas.analysis.explain_cohort import align_face
from thermal_icas.core import run_files
from thermal_icas.core.explain.regions import (
    COLUMNS,
    REGIONS,
    compare_regions,
    face_regions,
    holm,
    per_patient,
)
from thermal_icas.train.pipeline import run


def _ellipse(height: int, width: int, centre_x: float, angle: float = 0.0) -> np.ndarray:
    face = np.zeros((height, width), np.uint8)
    axes = (round(0.3 * width), round(0.42 * height))
    cv2.ellipse(face, (round(centre_x), height // 2), axes, angle, 0, 360, 1, -1)
    return face.astype(np.float32)


def test_regions_lie_in_the_face_apart_and_mirror_each_other() -> None:
    face = _ellipse(96, 80, 40)
    regions = face_regions(face)
    assert set(regions) == set(REGIONS)
    names = list(regions)
    for i, name in enumerate(names):
        assert regions[name].sum() > 20, name
        assert not (regions[name] & (face < 0.5)).any(), f"{name} leaves the face"
        for other in names[i + 1 :]:
            assert not (regions[name] & regions[other]).any(), (name, other)
    for part in ("periorbital", "cheek"):
        left, right = regions[f"{part} left"], regions[f"{part} right"]
        assert np.array_equal(left, np.fliplr(right)), part
        assert not left[:, 40:].any(), "left is the image's left"
    for name in ("forehead", "nose"):
        assert np.array_equal(regions[name], np.fliplr(regions[name])), name
    rows = {name: np.flatnonzero(mask.any(1)) for name, mask in regions.items()}
    assert rows["forehead"].max() < rows["periorbital left"].min()
    assert rows["periorbital left"].max() < rows["cheek left"].min()
    assert not any(mask.any() for mask in face_regions(np.zeros_like(face)).values())


def test_alignment_centres_face_and_map_together() -> None:
    face = _ellipse(64, 64, 22, angle=12)
    picture = 0.8 * face
    aligned_picture, aligned_face, heat = align_face(picture, face, face.copy())
    assert aligned_face.shape == face.shape
    overlap = np.minimum(aligned_face, np.fliplr(aligned_face)).sum() / aligned_face.sum()
    assert overlap > 0.95, "the face is not centred on its midline"
    assert np.allclose(heat, aligned_face, atol=0.05), "the map did not move with the face"
    assert np.allclose(aligned_picture, 0.8 * aligned_face, atol=0.05)


def test_holm_adjusts_step_down_in_input_order() -> None:
    assert np.allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    assert np.allclose(holm([0.5, 0.9]), [1.0, 1.0])


def test_a_planted_region_difference_survives_holm_and_the_others_do_not() -> None:
    rng = np.random.default_rng(3)
    positive = np.array([True] * 20 + [False] * 30)
    shares = rng.uniform(0.05, 0.2, (50, len(REGIONS)))
    planted = list(REGIONS).index("periorbital left")
    shares[positive, planted] += 0.1
    tests = compare_regions(shares, positive)
    assert [t.region for t in tests] == list(REGIONS)
    for k, test in enumerate(tests):
        assert (test.n_icas, test.n_non_icas) == (20, 30)
        assert test.p <= test.p_holm <= 1.0
        if k == planted:
            assert test.p_holm < 0.05 and test.effect_size > 0.5
            assert test.mean_icas > test.mean_non_icas
        else:
            assert test.p_holm >= 0.05, test
    # the effect is signed: ICAS lower in the region gives a negative rank-biserial
    flipped = compare_regions(shares, ~positive)[planted]
    assert flipped.effect_size == pytest.approx(-tests[planted].effect_size)
    separated = compare_regions(np.array([[1.0], [2.0], [0.0], [0.5]]), [True, True, False, False])
    assert separated[0].effect_size == 1.0 and separated[0].statistic == 4.0


def test_a_patient_with_many_images_counts_once() -> None:
    patients = ["A"] * 10 + ["B", "C", "C"]
    values = np.array([[1.0]] * 10 + [[0.0], [0.4], [np.nan]])
    order, means = per_patient(patients, values)
    assert order == ["A", "B", "C"]
    assert means[:, 0].tolist() == [1.0, 0.0, 0.4], "an image without a map is left out"
    (test,) = compare_regions(means, np.array([True, False, False]))
    assert (test.n_icas, test.n_non_icas) == (1, 2)
    assert test.mean_non_icas == pytest.approx(0.2)


@pytest.mark.slow
def test_script_writes_class_maps_and_region_tests_of_a_run(
    compose_cfg: ComposeFn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit, match="holds no"):
        cli.main(["explain-cohort", str(tmp_path)])

    cfg = compose_cfg(["experiment=smoke", "threads=1"])
    run(cfg)
    out = Path(cfg.paths.output_dir)
    (out / run_files.CONFIG).parent.mkdir(exist_ok=True)
    OmegaConf.save(cfg, out / run_files.CONFIG)  # train.py's Hydra writes this file
    cli.main(["explain-cohort", str(out)])
    printed = capsys.readouterr().out
    assert "periorbital left" in printed and str(out / run_files.COHORT_REGIONS) in printed
    assert (out / run_files.COHORT_MAPS).stat().st_size > 0
    with (out / run_files.COHORT_REGIONS).open(newline="") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == COLUMNS
    assert [row["region"] for row in rows] == list(REGIONS)
    with (out / run_files.SPLITS).open(newline="") as handle:
        test_rows = [row for row in csv.DictReader(handle) if row["split"] == "test"]
    icas = {row["patient"] for row in test_rows if row["label"] == "icas"}
    control = {row["patient"] for row in test_rows if row["label"] != "icas"}
    for row in rows:
        assert (int(row["n_icas"]), int(row["n_non_icas"])) == (len(icas), len(control))
        assert 0.0 <= float(row["p"]) <= float(row["p_holm"]) <= 1.0
        assert -1.0 <= float(row["effect_size"]) <= 1.0
        assert 0.0 <= float(row["mean_icas"]) <= 1.0
    # the run's report now shows the cohort analysis
    report = (out / run_files.REPORT).read_text()
    assert "periorbital left" in report and "p_holm" in report
