"""validate.py: a finished run on a new labelled cohort with every choice of its val split
kept, a report of its own, and how the new images differ from the training ones."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from PIL import Image

from tests.conftest import drop_checkpoints, make_toy_dataset
from thermal_icas.analysis.shift_test import SHIFT_DIR, patients_in_test, score_shift
from thermal_icas.analysis.trained_run import load_run
from thermal_icas.analysis.validation import validate
from thermal_icas.core import run_files
from thermal_icas.core.errors import DatasetError
from thermal_icas.train.config import compose_config
from thermal_icas.train.pipeline import run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[Path]:
    tmp_path = tmp_path_factory.mktemp("validate")
    data_dir = make_toy_dataset(tmp_path / "toy", size=32)
    overrides = ["experiment=smoke", f"data.data_dir={data_dir}", f"paths.cache_dir={cache_dir}"]
    cfg = compose_config(overrides, tmp_path / "run")
    GlobalHydra.instance().clear()
    run(cfg)
    out = Path(cfg.paths.output_dir)
    (out / run_files.CONFIG).parent.mkdir(exist_ok=True)
    OmegaConf.save(cfg, out / run_files.CONFIG)  # train.py's Hydra writes this file
    yield out
    drop_checkpoints(tmp_path)


def _new_cohort(root: Path) -> Path:
    """Other people, upper-case class folders and JPEGs, as another hospital might export."""
    cohort = make_toy_dataset(root, {"icas": 6, "non_icas": 10}, size=32, seed=5, prefix="X")
    for path in sorted(cohort.rglob("*.png")):
        Image.open(path).save(path.with_suffix(".jpg"), quality=90)
        path.unlink()
    (cohort / "icas").rename(cohort / "ICAS")
    (cohort / "non_icas").rename(cohort / "Non_ICAS")
    return cohort


def test_the_runs_choices_score_the_new_cohort(trained: Path, tmp_path: Path) -> None:
    saved = json.loads((trained / run_files.METRICS).read_text())
    out = tmp_path / "external"
    metrics = validate(load_run(trained), _new_cohort(tmp_path / "new"), out, cache_dir=tmp_path)
    # nothing is chosen again: the thresholds and the recalibration are the run's
    for key in ("test/threshold", "test/patient/threshold", "test/patient/calibrated/intercept"):
        assert metrics[key] == saved[key]
    assert metrics["test/patient/n"] == 16 and metrics["test/patient/n_positive"] == 6
    assert metrics["test/patient/auroc"] > 0.9  # warm faces are ICAS in both cohorts
    assert "test/attention/background_effect" in metrics
    # PNG in training, JPEG here: the capture audit tells the cohorts apart and says by what
    assert metrics["external/capture_auroc_ci_low"] > 0.6
    written = json.loads((out / run_files.METRICS).read_text())
    assert written["test/patient/auroc"] == metrics["test/patient/auroc"]
    with (out / run_files.TEST_PATIENTS).open() as handle:
        patients = list(csv.DictReader(handle))
    assert {row["label"] for row in patients} == {"icas", "non_icas"}
    assert all(row["patient"].startswith("X") for row in patients)
    with (out / run_files.CAPTURE_SHIFT).open() as handle:
        telling = [row["property"] for row in csv.DictReader(handle)][:3]
    assert {"format=JPEG", "jpeg_quality"} & set(telling)
    report = (out / run_files.REPORT).read_text()
    assert "validate" in report and str(tmp_path / "new") in report


def test_recalibration_reports_the_patients_it_was_not_fitted_on(
    trained: Path, tmp_path: Path
) -> None:
    cohort = _new_cohort(tmp_path / "new")
    metrics = validate(load_run(trained), cohort, tmp_path / "out", recalibrate=0.5)
    assert metrics["test/patient/n"] == 8 and metrics["test/patient/n_positive"] == 3
    saved = json.loads((trained / run_files.METRICS).read_text())
    assert metrics["test/patient/threshold"] == saved["test/patient/threshold"]
    assert not np.isclose(
        metrics["test/patient/calibrated/intercept"], saved["test/patient/calibrated/intercept"]
    )


def test_other_classes_are_refused_in_one_line(trained: Path, tmp_path: Path) -> None:
    other = make_toy_dataset(tmp_path / "o", {"icas": 2, "healthy": 2}, size=32, prefix="Y")
    with pytest.raises(DatasetError, match=r"the run was trained on \['icas', 'non_icas'\]"):
        validate(load_run(trained), other, tmp_path / "out")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "validate.py"),
            f"ckpt_path={trained}",
            f"data_dir={other}",
            f"hydra.run.dir={tmp_path / 'cli'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_the_test_patients_on_another_camera_beside_their_own(
    trained: Path, tmp_path: Path
) -> None:
    """eval.shift_dir: the run's test patients scored in a second folder, paired with their
    own test; the same images there drop by exactly 0, and patients the folder lacks are
    left out of the pair."""
    data_dir = Path(OmegaConf.load(trained / run_files.CONFIG).data.data_dir)
    same = tmp_path / "same"
    shutil.copytree(data_dir, same)
    tested = patients_in_test(trained / run_files.SPLITS)
    own = json.loads((trained / run_files.METRICS).read_text())

    metrics = score_shift(trained, str(same), tmp_path / "cache")

    assert metrics["shift/patient/auroc"] == pytest.approx(own["test/patient/auroc"])
    assert metrics["shift/patient/auroc_drop"] == 0.0
    assert (
        metrics["shift/patient/auroc_drop_ci_low"],
        metrics["shift/patient/auroc_drop_ci_high"],
    ) == (0.0, 0.0)
    assert metrics["shift/patient/n_paired"] == len(tested)
    assert "shift/capture_auroc" in metrics
    assert (trained / SHIFT_DIR / run_files.REPORT).is_file()
    with (trained / SHIFT_DIR / run_files.SPLITS).open() as handle:
        assert {row["patient"] for row in csv.DictReader(handle)} == tested

    gone = sorted(tested)[0]
    for path in same.rglob(f"{gone}_*"):
        path.unlink()
    fewer = score_shift(trained, str(same), tmp_path / "cache")
    assert fewer["shift/patient/n_paired"] == len(tested) - 1
