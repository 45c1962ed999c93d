"""Patient ids from per-patient folders, and the same picture under two patients or classes."""

from __future__ import annotations

import logging
import shutil
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest
from hydra.utils import instantiate

from tests.conftest import ComposeFn, make_toy_dataset, write_image
from thermal_icas import cli
from thermal_icas.analysis.inference import prediction_patients
from thermal_icas.core import run_files
from thermal_icas.core.data.duplicates import HashCache, find_duplicates, image_hash
from thermal_icas.core.data.records import ImageRecord
from thermal_icas.core.errors import ConfigError, DatasetError
from thermal_icas.train.datamodule import ThermalData
from thermal_icas.train.pipeline import run


def _face(rng: np.random.Generator, level: int, size: int = 64) -> np.ndarray:
    """A face-like ellipse with smooth warm and cool patches of its own: distinct pictures
    whose JPEG copies stay close, as real faces' do."""
    yy, xx = np.mgrid[:size, :size] / size
    heat = np.full((size, size), float(level))
    for _ in range(4):
        cy, cx = rng.uniform(0.25, 0.75, 2)
        heat += rng.uniform(-60, 60) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 0.01)
    face = ((yy - 0.5) / 0.45) ** 2 + ((xx - 0.5) / 0.35) ** 2 < 1
    image = np.zeros((size, size, 3), np.uint8)
    image[face] = np.clip(heat, 1, 255)[face, None].astype(np.uint8)
    return image


def _per_patient_folders(root: Path, patients: dict[str, int], images: int = 3) -> Path:
    """`<class>/<patient>/a<k>.png`, the image names numbered across the whole set, so the
    stem says nothing about the patient."""
    rng = np.random.default_rng(0)
    k = 0
    for name, count in patients.items():
        for p in range(count):
            for _ in range(images):
                write_image(root / name / f"{name[0]}{p:03d}" / f"a{k:03d}.png", _face(rng, 150))
                k += 1
    return root


def _data(compose_cfg: ComposeFn, root: Path, *overrides: str) -> ThermalData:
    cfg = compose_cfg([f"data.data_dir={root}", "data.image_size=16", *overrides])
    data: ThermalData = instantiate(cfg.data)
    data.setup()
    return data


def _splits_of(data: ThermalData, key: object) -> dict[str, set[str]]:
    """The splits each group of images (by `key` of the record) landed in."""
    found: dict[str, set[str]] = defaultdict(set)
    for record, split in data.rows:
        found[key(record)].add(split)  # type: ignore[operator]
    return found


def _folder(record: ImageRecord) -> str:
    return Path(record.path).parent.name


def test_per_patient_folders_keep_each_patient_in_one_split(
    compose_cfg: ComposeFn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = _per_patient_folders(tmp_path / "data", {"icas": 8, "non_icas": 16})
    with caplog.at_level(logging.INFO):
        data = _data(compose_cfg, root)
    assert "patient ids from the sub-folder names (data.patient_from=auto)" in caplog.text
    assert {r.patient for r, _ in data.rows} == {_folder(r) for r, _ in data.rows}
    assert all(len(s) == 1 for s in _splits_of(data, _folder).values())
    assert data.mask_summary()["data/duplicate_pairs"] == 0.0

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        by_name = _data(compose_cfg, root, "data.patient_from=filename")
    assert max(len(s) for s in _splits_of(by_name, _folder).values()) > 1, "no leak to catch"
    assert "72 of 72 patient ids" in caplog.text and "data.patient_from=folder" in caplog.text


def test_auto_reads_file_names_unless_every_image_is_in_a_patient_folder(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    flat = make_toy_dataset(tmp_path / "flat", {"icas": 6, "non_icas": 12}, size=32)
    assert {r.patient for r, _ in _data(compose_cfg, flat).rows} == {
        f"{c}{p:03d}" for c, n in (("I", 6), ("N", 12)) for p in range(n)
    }
    mixed = _per_patient_folders(tmp_path / "mixed", {"icas": 6, "non_icas": 12})
    loose = mixed / "icas" / "i000" / "a000.png"
    shutil.move(loose, mixed / "icas" / "i000_9.png")
    assert "i000" in {r.patient for r, _ in _data(compose_cfg, mixed).rows}
    assert "a001" in {r.patient for r, _ in _data(compose_cfg, mixed).rows}
    with pytest.raises(DatasetError, match=r"i000_9.png' sits directly in it"):
        _data(compose_cfg, mixed, "data.patient_from=folder")


def test_per_image_ids_are_warned_about(
    compose_cfg: ComposeFn, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = make_toy_dataset(tmp_path / "data", {"icas": 8, "non_icas": 16}, images_per_patient=1)
    with caplog.at_level(logging.WARNING):
        _data(compose_cfg, root)
    assert "24 of 24 patient ids (more than 90%) have a single image" in caplog.text
    assert "data.patient_regex" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _data(compose_cfg, make_toy_dataset(tmp_path / "grouped", {"icas": 8, "non_icas": 16}))
    assert "single image" not in caplog.text


def test_external_test_folder_and_split_file_take_patient_folders(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    train = _per_patient_folders(tmp_path / "train", {"icas": 6, "non_icas": 12})
    test = _per_patient_folders(tmp_path / "ext", {"icas": 3, "non_icas": 3}, images=2)
    for folder in [*test.glob("*/*")]:
        folder.rename(folder.with_name(f"x{folder.name}"))
    data = _data(compose_cfg, train, f"data.test_dir={test}")
    assert {r.patient for r in data.records("test")} == {_folder(r) for r in data.records("test")}
    assert all(r.patient.startswith("x") for r in data.records("test"))
    data.write_splits(tmp_path)
    again = _data(compose_cfg, train, f"data.split_file={tmp_path / run_files.SPLITS}")
    assert again.rows == data.rows


def _plant(root: Path, source: str, target: str, reencode: bool) -> tuple[Path, Path]:
    """A copy of image `source` as image `target` (paths under root), optionally as JPEG."""
    original = root / source
    copy = root / target
    copy.parent.mkdir(parents=True, exist_ok=True)
    if reencode:
        copy = copy.with_suffix(".jpg")
        cv2.imwrite(str(copy), cv2.imread(str(original)), [cv2.IMWRITE_JPEG_QUALITY, 80])
    else:
        shutil.copy(original, copy)
    return original, copy


@pytest.mark.parametrize("reencode", [False, True])
@pytest.mark.parametrize("target", ["icas/i007/z.png", "non_icas/n005/z.png"])
def test_a_copy_under_another_patient_is_reported_with_both_paths(
    compose_cfg: ComposeFn,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    reencode: bool,
    target: str,
) -> None:
    root = _per_patient_folders(tmp_path / "data", {"icas": 8, "non_icas": 16})
    original, copy = _plant(root, "icas/i001/a003.png", target, reencode)
    with caplog.at_level(logging.WARNING):
        data = _data(compose_cfg, root)
    assert data.mask_summary()["data/duplicate_pairs"] == 1.0
    line = next(m for m in caplog.messages if m.startswith("Duplicate:"))
    assert str(original.resolve()) in line and str(copy.resolve()) in line
    assert ("under both classes" in line) == target.startswith("non_icas")
    splits = {Path(r.path).parent.name: s for r, s in data.rows}
    assert (": a leak" in line) == (splits["i001"] != splits[Path(target).parent.name])


def test_a_copy_within_one_patient_is_no_duplicate(compose_cfg: ComposeFn, tmp_path: Path) -> None:
    root = _per_patient_folders(tmp_path / "data", {"icas": 8, "non_icas": 16})
    _plant(root, "icas/i001/a003.png", "icas/i001/z.png", True)
    data = _data(compose_cfg, root, "data.on_duplicates=error")
    assert data.duplicate_pairs == 0


def test_a_copy_across_classes_stops_the_run_before_training(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    root = _per_patient_folders(tmp_path / "data", {"icas": 8, "non_icas": 16})
    original, copy = _plant(root, "icas/i001/a003.png", "non_icas/n005/z.png", True)
    for setting in ("error", "merge"):
        cfg = compose_cfg(
            [f"data.data_dir={root}", "experiment=smoke", f"data.on_duplicates={setting}"],
            output_dir=tmp_path / setting,
        )
        with pytest.raises(DatasetError, match="under both classes") as caught:
            run(cfg)
        assert str(original.resolve()) in str(caught.value) and str(copy.resolve()) in str(
            caught.value
        )
        assert not (tmp_path / setting / run_files.CHECKPOINTS).exists()


def test_merge_puts_the_two_patients_in_one_split(compose_cfg: ComposeFn, tmp_path: Path) -> None:
    root = _per_patient_folders(tmp_path / "data", {"icas": 8, "non_icas": 16})
    _plant(root, "icas/i001/a003.png", "icas/i007/z.png", True)
    with pytest.raises(DatasetError, match="an image leaks"):
        _data(compose_cfg, root, "data.on_duplicates=error")
    data = _data(compose_cfg, root, "data.on_duplicates=merge")
    joined = {r.patient: s for r, s in data.rows if r.patient.startswith("i001")}
    assert set(joined) == {"i001+i007"}
    assert len(_splits_of(data, _folder)["i001"] | _splits_of(data, _folder)["i007"]) == 1


def test_distinct_pictures_of_one_patient_are_not_duplicates(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    """The embedded synthetic patients' images are different pictures: with every image given
    its own patient, no pair may be within the default distance."""
    cfg = compose_cfg(["experiment=smoke"])
    data: ThermalData = instantiate(cfg.data)
    data.setup()
    records = [ImageRecord(r.path, str(i), r.label) for i, (r, _) in enumerate(data.rows)]
    assert find_duplicates(records, HashCache(tmp_path / "hashes"), 6) == []
    assert data.duplicate_pairs == 0


def test_hashes_are_cached_by_content(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    write_image(path, _face(np.random.default_rng(1), 150, size=128))
    hashes = HashCache(tmp_path / "cache")
    first = hashes(path)
    assert len(list((tmp_path / "cache").rglob("*.txt"))) == 1
    assert np.array_equal(hashes(path), first) and np.array_equal(first, image_hash(path))
    write_image(path, _face(np.random.default_rng(2), 150, size=128))
    assert not np.array_equal(hashes(path), first)
    assert len(list((tmp_path / "cache").rglob("*.txt"))) == 2


def test_audit_script_prints_pairs_and_fails_on_cross_class_copies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _per_patient_folders(tmp_path / "data", {"icas": 3, "non_icas": 3})
    arguments = ["audit", str(root), "--cache-dir", str(tmp_path / "cache")]
    assert cli.main(arguments) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("duplicate_pairs=0 cross_class_pairs=0 acquisition_auroc=")
    _plant(root, "icas/i001/a003.png", "icas/i002/z.png", False)
    assert cli.main(arguments) == 0
    assert "duplicate_pairs=1 cross_class_pairs=0" in capsys.readouterr().out
    original, copy = _plant(root, "icas/i001/a003.png", "non_icas/n002/z.png", True)
    assert cli.main(arguments) == 1
    rows = capsys.readouterr().out.splitlines()
    assert any(
        str(original.resolve()) in row and str(copy.resolve()) in row and "\tnon_icas" in row
        for row in rows
    )
    assert rows[-1].startswith("duplicate_pairs=3 cross_class_pairs=2 ")
    assert cli.main(["audit", str(tmp_path / "nowhere")]) == 2


def test_predictions_read_patients_as_the_run_did(tmp_path: Path) -> None:
    """predict.py's input folder stands where a class folder, or data_dir, stood."""
    nested = _per_patient_folders(tmp_path / "new", {"icas": 2}, images=2)
    flat = make_toy_dataset(tmp_path / "flat", {"icas": 1, "non_icas": 1}, size=16)
    regex = "^([^_-]+)"
    classes = ("icas", "non_icas")
    by_folder, by_name = ["i000", "i000", "i001", "i001"], ["a000", "a001", "a002", "a003"]
    for source, data, expected in (
        (nested / "icas", "auto", by_folder),
        (nested, "auto", by_folder),
        (nested, "filename", by_name),
        (flat, "auto", ["I000", "I000", "N000", "N000"]),
    ):
        paths = sorted(source.rglob("*.png"))
        assert prediction_patients(data, regex, classes, source, paths) == expected, source
    loose = sorted(nested.rglob("*.png"))[0]
    assert prediction_patients("folder", regex, classes, loose, [loose]) == ["a000"]


@pytest.mark.parametrize(
    "setting",
    ["data.patient_from=stem", "data.on_duplicates=ignore", "data.duplicate_distance=-1"],
)
def test_a_bad_setting_is_named(compose_cfg: ComposeFn, tmp_path: Path, setting: str) -> None:
    root = make_toy_dataset(tmp_path / "data", {"icas": 6, "non_icas": 12}, size=32)
    with pytest.raises(ConfigError, match=setting.split("=")[0].replace(".", r"\.")):
        _data(compose_cfg, root, setting)
