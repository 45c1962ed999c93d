"""Bad input: a one-line error naming the file or setting, or a logged skip, never a traceback."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import ComposeFn, make_toy_dataset, write_image
from thermal_icas.core.data.reading import Reading
from thermal_icas.core.errors import DatasetError
from thermal_icas.train.pipeline import run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _train_cli(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "experiment=smoke",
            "debug=fast",
            f"hydra.run.dir={tmp_path / 'run'}",
            f"paths.cache_dir={tmp_path / 'cache'}",
            *overrides,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )


def _toy(tmp_path: Path) -> Path:
    return make_toy_dataset(tmp_path / "toy", size=32)


def _missing(tmp_path: Path) -> tuple[list[str], str]:
    return [f"data.data_dir={tmp_path / 'nowhere'}"], f"data_dir '{tmp_path / 'nowhere'}'"


def _empty(tmp_path: Path) -> tuple[list[str], str]:
    (tmp_path / "empty").mkdir()
    return [f"data.data_dir={tmp_path / 'empty'}"], "has no class folders"


def _one_class(tmp_path: Path) -> tuple[list[str], str]:
    root = _toy(tmp_path)
    shutil.rmtree(root / "non_icas")
    return [f"data.data_dir={root}"], "found 1 class folder(s) ['icas']"


def _class_without_images(tmp_path: Path) -> tuple[list[str], str]:
    root = _toy(tmp_path)
    for image in (root / "icas").iterdir():
        image.unlink()
    (root / "icas" / "notes.txt").write_text("not an image")
    return [f"data.data_dir={root}"], f"class folder '{root / 'icas'}' has no images"


def _regex_matches_nothing(tmp_path: Path) -> tuple[list[str], str]:
    return [f"data.data_dir={_toy(tmp_path)}", "data.patient_regex=^(Z\\d+)"], "patient_regex"


def _regex_invalid(tmp_path: Path) -> tuple[list[str], str]:
    regex = "data.patient_regex='^(I|N)(\\d+'"
    return [f"data.data_dir={_toy(tmp_path)}", regex], "is not a valid regular expression"


def _unknown_option(tmp_path: Path) -> tuple[list[str], str]:
    return ["mask=oval"], "Available options"


def _image_too_small(tmp_path: Path) -> tuple[list[str], str]:
    return ["data.image_size=8"], "use data.image_size=16 or more"


def _class_absent_from_a_split(tmp_path: Path) -> tuple[list[str], str]:
    root = make_toy_dataset(tmp_path / "few", {"icas": 2, "non_icas": 12}, size=32)
    return [
        f"data.data_dir={root}",
        "data.split.train=0.75",
        "data.split.val=0.1",
    ], "images per class: both classes"


def _test_dir_with_other_classes(tmp_path: Path) -> tuple[list[str], str]:
    other = make_toy_dataset(tmp_path / "other", {"icas": 3, "healthy": 3}, size=32)
    return [f"data.data_dir={_toy(tmp_path)}", f"data.test_dir={other}"], "has classes"


def _classes_that_do_not_say_which_is_icas(tmp_path: Path) -> tuple[list[str], str]:
    root = make_toy_dataset(tmp_path / "de", {"stenose": 6, "kontrolle": 12}, size=32)
    return [f"data.data_dir={root}"], "set data.positive_class=<one of ['kontrolle', 'stenose']>"


def _bad_setting(tmp_path: Path) -> tuple[list[str], str]:
    return ["asymmetry=on", "asymmetry.align=tilt", "data.image_size=64"], "asymmetry.align='tilt'"


def _bad_explain_method(tmp_path: Path) -> tuple[list[str], str]:
    return ["explain.method=gradcam++"], "explain.method='gradcam++' must be one of"


def _batch_size_zero(tmp_path: Path) -> tuple[list[str], str]:
    return ["training.finetune.batch_size=0"], "training.finetune.batch_size=0 is not accepted"


def _regex_unquoted(tmp_path: Path) -> tuple[list[str], str]:
    return ["data.patient_regex=^(P\\d+)"], "\"data.patient_regex='^(P\\d+)'\""


def _more_memory_than_there_is(tmp_path: Path) -> tuple[list[str], str]:
    # 16 x 2 views of 4000 px through ResNet-18: about 290 GiB
    return ["data.image_size=4000"], "lower training.contrastive.batch_size (at most"


def _run_dir_under_a_file(tmp_path: Path) -> tuple[list[str], str]:
    (tmp_path / "a_file").write_text("")
    folder = tmp_path / "a_file" / "run"
    return [f"hydra.run.dir={folder}"], f"the run folder '{folder}' cannot be created"


CASES: dict[str, Callable[[Path], tuple[list[str], str]]] = {
    "missing-data-dir": _missing,
    "empty-data-dir": _empty,
    "one-class": _one_class,
    "class-without-images": _class_without_images,
    "regex-matches-nothing": _regex_matches_nothing,
    "regex-invalid": _regex_invalid,
    "unknown-option": _unknown_option,
    "image-size-too-small": _image_too_small,
    "class-absent-from-a-split": _class_absent_from_a_split,
    "test-dir-other-classes": _test_dir_with_other_classes,
    "classes-not-named": _classes_that_do_not_say_which_is_icas,
    "bad-setting-value": _bad_setting,
    "bad-explain-method": _bad_explain_method,
    "batch-size-zero": _batch_size_zero,
    "regex-unquoted": _regex_unquoted,
    "more-memory-than-there-is": _more_memory_than_there_is,
    "run-dir-under-a-file": _run_dir_under_a_file,
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_gets_one_clear_line(tmp_path: Path, case: str) -> None:
    overrides, expected = CASES[case](tmp_path)
    result = _train_cli(tmp_path, *overrides)
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr


def test_unusable_images_are_skipped_listed_and_the_run_goes_on(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    root = _toy(tmp_path)
    (root / "icas" / "I900_0.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is no image")
    write_image(root / "icas" / "I901_0.jpg", np.full((32, 32, 3), 120, np.uint8))
    data = (root / "icas" / "I901_0.jpg").read_bytes()
    (root / "icas" / "I901_0.jpg").write_bytes(data[: len(data) // 2])
    write_image(root / "non_icas" / "N900_0.png", np.zeros((32, 32, 3), np.uint8))
    (root / "non_icas" / "README.md").write_text("not an image, ignored")
    # usable despite their bytes: data after the JPEG's end, a PNG with a JPEG's name
    kept = {"I000_0.png": "I902_0.jpg", "N000_0.png": "N901_0.jpg"}
    (root / "icas" / kept["I000_0.png"]).write_bytes(
        cv2.imencode(".jpg", cv2.imread(str(root / "icas" / "I000_0.png")))[1].tobytes()
        + b"camera trailer \xff\xda with bytes that look like a scan"
    )
    shutil.copy(root / "non_icas" / "N000_0.png", root / "non_icas" / kept["N000_0.png"])

    cfg = compose_cfg(["experiment=smoke", "debug=fast", f"data.data_dir={root}"])
    metrics = run(cfg)
    out = Path(cfg.paths.output_dir)
    with (out / "skipped.csv").open() as handle:
        skipped = {Path(row["path"]).name: row["reason"] for row in csv.DictReader(handle)}
    assert set(skipped) == {"I900_0.jpg", "I901_0.jpg", "N900_0.png"}
    assert "truncated" in skipped["I901_0.jpg"]
    assert "all black" in skipped["N900_0.png"]
    assert metrics["data/skipped_images"] == 3
    assert json.loads((out / "metrics.json").read_text())["data/skipped_images"] == 3
    with (out / "splits.csv").open() as handle:
        listed = {Path(row["path"]).name for row in csv.DictReader(handle)}
    assert not listed & set(skipped), "skipped images must not be in any split"
    assert set(kept.values()) <= listed


@pytest.mark.parametrize("progressive", [0, 1])
def test_a_jpeg_missing_its_last_bytes_is_refused(tmp_path: Path, progressive: int) -> None:
    """OpenCV decodes such files with the missing rows grey: they must not reach training."""
    noise = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    whole = cv2.imencode(".jpg", noise, [cv2.IMWRITE_JPEG_PROGRESSIVE, progressive])[1].tobytes()
    (tmp_path / "whole.jpg").write_bytes(whole + b"camera trailer")
    assert Reading()(tmp_path / "whole.jpg")[0].shape == (48, 64, 3)
    (tmp_path / "cut.jpg").write_bytes(whole[:-2])
    with pytest.raises(DatasetError, match=r"cut\.jpg' is a truncated"):
        Reading()(tmp_path / "cut.jpg")
