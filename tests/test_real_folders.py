"""What real folders hold and a run must survive: ids in two cases, a symlink loop, files
whose name lies about their format, CMYK and palette images, a one-positive cohort, two runs
sharing a new folder's caches."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import make_toy_dataset, thermal_data
from thermal_icas.core.data.imageio import load_rgb
from thermal_icas.core.errors import DatasetError


def _grey(path: Path, value: int, **save: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), value, np.uint8)).save(path, **save)
    return path


def test_ids_that_differ_only_in_case_are_one_patient(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 6, "non_icas": 12}, size=16)
    _grey(root / "icas" / "i000_7.png", 200)
    data = thermal_data(tmp_path, data_dir=str(root))
    with caplog.at_level(logging.WARNING):
        data.setup()
    patients = {record.patient for record, _ in data.rows}
    assert "i000" not in patients and "I000" in patients
    assert len({split for record, split in data.rows if record.patient == "I000"}) == 1
    assert "'i000' as 'I000'" in caplog.text


def test_an_external_test_id_in_another_case_is_a_shared_patient(tmp_path: Path) -> None:
    train = make_toy_dataset(tmp_path / "train", {"icas": 6, "non_icas": 12}, size=16)
    test = tmp_path / "ext"
    for name, patient in (("icas", "i000"), ("non_icas", "X1")):
        _grey(test / name / f"{patient}_0.png", 150)
    data = thermal_data(tmp_path, data_dir=str(train), test_dir=str(test))
    with pytest.raises(DatasetError, match=r"share 1 patient id\(s\) \(e.g. \['i000'\]"):
        data.setup()


def test_a_symlink_loop_is_not_followed(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 6, "non_icas": 12}, size=16)
    os.symlink("..", root / "icas" / "loop")
    data = thermal_data(tmp_path, data_dir=str(root))
    data.setup()
    assert len(data.rows) == 2 * 18


@pytest.mark.parametrize(
    ("name", "save", "expected"),
    [
        ("png_named.jpg", {"format": "PNG"}, 120),
        ("cmyk.jpg", {"format": "JPEG", "quality": 100}, 120),
        ("palette.png", {"format": "PNG"}, 120),
    ],
)
def test_images_whose_name_or_mode_is_unusual_read_as_their_pixels(
    tmp_path: Path, name: str, save: dict[str, object], expected: int
) -> None:
    image = Image.fromarray(np.full((16, 16, 3), expected, np.uint8))
    image = image.convert("CMYK") if name.startswith("cmyk") else image
    image = image.convert("P", palette=Image.Palette.ADAPTIVE) if name.startswith("pal") else image
    image.save(tmp_path / name, **save)
    pixels = load_rgb(tmp_path / name)
    assert pixels.shape == (16, 16, 3)
    assert np.allclose(pixels, expected / 255, atol=2 / 255)


def test_a_cohort_with_one_positive_patient_gets_a_clear_split_error(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 1, "non_icas": 12}, size=16)
    with pytest.raises(DatasetError, match=r"images per class: both classes are needed"):
        thermal_data(tmp_path, data_dir=str(root)).setup()


def test_two_runs_at_once_on_a_new_folder_share_its_caches(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 6, "non_icas": 12}, size=16)
    modules = [thermal_data(tmp_path, data_dir=str(root)) for _ in range(2)]
    errors: list[BaseException] = []

    def setup(module: object) -> None:
        try:
            module.setup()  # type: ignore[attr-defined]
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=setup, args=(m,)) for m in modules]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    first, second = modules
    assert first.images is not None and second.images is not None
    assert torch.equal(first.images, second.images) and first.rows == second.rows
