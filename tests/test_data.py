"""Folder scanning, image decoding and patient-level splitting."""

from __future__ import annotations

import csv
import logging
import random
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import make_toy_dataset, thermal_data, write_image
from thermal_icas.core.data.classes import resolve_classes
from thermal_icas.core.data.imageio import load_rgb
from thermal_icas.core.data.records import ImageRecord, find_class_dirs, scan_folder
from thermal_icas.core.data.splits import permute_labels, read_splits, split_patients, write_splits
from thermal_icas.core.errors import DatasetError


def _records(n_pos: int, n_neg: int, per_patient: int = 3) -> list[ImageRecord]:
    records = []
    for label, count in ((0, n_pos), (1, n_neg)):
        for p in range(count):
            for k in range(per_patient):
                records.append(ImageRecord(f"/x/{label}_{p}_{k}.png", f"L{label}P{p}", label))
    return records


def test_class_ids_come_from_sorted_names_whatever_the_listing_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_toy_dataset(tmp_path / "d", {"non_icas": 2, "icas": 2}, size=16)
    original = Path.iterdir

    def shuffled(self: Path):  # type: ignore[no-untyped-def]
        entries = list(original(self))
        random.Random(3).shuffle(entries)
        return iter(entries[::-1])

    monkeypatch.setattr(Path, "iterdir", shuffled)
    classes = resolve_classes(find_class_dirs(root), None, str(root))
    assert classes.names == ("icas", "non_icas")
    assert classes.positive == "icas" and classes.positive_index == 0
    records = scan_folder(root, classes, "^([^_-]+)")
    assert {r.label for r in records if "/icas/" in r.path} == {0}


@pytest.mark.parametrize(
    ("names", "positive"),
    [
        (["ICAS", "Non_ICAS"], "ICAS"),
        (["icas", "non_icas"], "icas"),
        (["ICAS_positive", "control"], "ICAS_positive"),
        (["icas", "non-icas"], "icas"),
        (["NonICAS", "stenosis"], "stenosis"),
        (["ICAS-negative", "ICAS-positive"], "ICAS-positive"),
        (["controls", "patients"], "patients"),
    ],
)
def test_the_positive_class_is_read_from_names_in_any_case_and_spelling(
    names: list[str], positive: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    classes = resolve_classes(sorted(names), None, "x")
    assert classes.positive == positive
    assert f"positive (ICAS) class '{positive}'" in caplog.text


@pytest.mark.parametrize("names", [["a", "b"], ["stenose", "kontrolle"], ["icas", "icas_cases"]])
def test_names_that_do_not_say_which_class_is_positive_stop_the_run(names: list[str]) -> None:
    with pytest.raises(DatasetError, match=r"set data\.positive_class="):
        resolve_classes(names, None, "x")


def test_positive_class_setting(tmp_path: Path) -> None:
    assert resolve_classes(["a", "b"], "a", "x").positive_index == 0
    # the setting matches whatever the case and separators
    assert resolve_classes(["ICAS", "Non_ICAS"], "non-icas", "x").positive == "Non_ICAS"
    with pytest.raises(DatasetError, match="positive_class='c'"):
        resolve_classes(["a", "b"], "c", "x")
    with pytest.raises(DatasetError, match="exactly 2"):
        resolve_classes(["a", "b", "c"], "a", "x")


def test_scan_reads_every_extension_in_any_case_and_ignores_other_files(tmp_path: Path) -> None:
    image = np.full((8, 8, 3), 100, np.uint8)
    for name in (
        "icas/P1_1.PNG",
        "icas/P1-2.jpeg",
        "icas/P2_1.Tif",
        "non_icas/Q1_1.bmp",
        "non_icas/Q2_1.JPG",
        "non_icas/Q3_1.tiff",
    ):
        write_image(tmp_path / name, image)
    (tmp_path / "icas" / "notes.txt").write_text("not an image")
    (tmp_path / "icas" / "._P1_1.PNG").write_bytes(b"a macOS resource fork")
    write_image(tmp_path / "non_icas" / ".thumbnails" / "Q1_1.png", image)
    classes = resolve_classes(find_class_dirs(tmp_path), None, str(tmp_path))
    records = scan_folder(tmp_path, classes, "^([^_-]+)")
    assert len(records) == 6, "hidden files and folders hold no more images"
    assert sorted({r.patient for r in records}) == ["P1", "P2", "Q1", "Q2", "Q3"]


def test_bad_folders_and_regex_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        find_class_dirs(tmp_path / "missing")
    root = make_toy_dataset(tmp_path / "d", {"icas": 1, "non_icas": 1}, size=16)
    classes = resolve_classes(find_class_dirs(root), None, str(root))
    with pytest.raises(DatasetError, match="does not match the file name"):
        scan_folder(root, classes, r"^(\d+)_")
    with pytest.raises(DatasetError, match=r"data.patient_regex '\^\(I' is not a valid regular"):
        scan_folder(root, classes, "^(I")
    (root / "icas" / "I000_0.png").rename(root / "icas" / "N000_9.png")
    with pytest.raises(DatasetError, match="patient 'N000' has images in both"):
        scan_folder(root, classes, "^([^_-]+)")


def test_gray_rgb_and_16bit_images_load_alike(tmp_path: Path) -> None:
    gray = np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (24, 1))
    write_image(tmp_path / "gray.png", gray)
    write_image(tmp_path / "rgb.png", np.repeat(gray[:, :, None], 3, axis=2))
    write_image(tmp_path / "deep.png", gray.astype(np.uint16) * 257)
    write_image(tmp_path / "alpha.png", np.dstack([gray, gray, gray, np.full_like(gray, 255)]))
    loaded = [load_rgb(tmp_path / f"{n}.png") for n in ("gray", "rgb", "deep", "alpha")]
    for image in loaded:
        assert image.shape == (24, 32, 3) and image.dtype == np.float32
        np.testing.assert_allclose(image, loaded[0], atol=1e-6)
    assert loaded[0].max() == pytest.approx(1.0)


def test_images_are_decoded_upright_per_their_exif_orientation(tmp_path: Path) -> None:
    from PIL import Image

    wide = Image.fromarray(np.full((40, 80, 3), 100, np.uint8))
    exif = wide.getexif()
    exif[0x0112] = 6  # stored sideways: turn 90 degrees clockwise to display
    wide.save(tmp_path / "turned.jpg", exif=exif)
    assert load_rgb(tmp_path / "turned.jpg").shape == (80, 40, 3)


def test_pixels_without_a_known_range_are_refused_naming_the_file(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "unit.tif"), np.full((8, 8), 0.5, np.float32))
    np.testing.assert_allclose(load_rgb(tmp_path / "unit.tif"), 0.5)
    cv2.imwrite(str(tmp_path / "celsius.tif"), np.full((8, 8), 34.5, np.float32))
    with pytest.raises(DatasetError, match=r"celsius\.tif' holds floating-point values in"):
        load_rgb(tmp_path / "celsius.tif")
    signed = np.full((8, 8), 16383, np.int16)
    signed[0, 0] = -5
    cv2.imwrite(str(tmp_path / "signed.tif"), signed)
    loaded = load_rgb(tmp_path / "signed.tif")
    assert loaded[0, 0, 0] == 0.0 and loaded[1, 1, 0] == pytest.approx(16383 / 32767)
    bgr = np.zeros((8, 8, 3), np.int16)
    bgr[:, :, 2] = 32767  # red, in OpenCV's order
    cv2.imwrite(str(tmp_path / "signed_colour.tif"), bgr)
    assert load_rgb(tmp_path / "signed_colour.tif")[0, 0].tolist() == [1.0, 0.0, 0.0]
    cv2.imwrite(str(tmp_path / "counts.tif"), np.full((8, 8), 3000, np.int32))
    with pytest.raises(DatasetError, match=r"counts\.tif' has int32 pixels"):
        load_rgb(tmp_path / "counts.tif")


def test_colour_order_is_rgb(tmp_path: Path) -> None:
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[:, :, 2] = 255  # red in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    assert load_rgb(tmp_path / "red.png")[0, 0].tolist() == [1.0, 0.0, 0.0]


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(DatasetError, match=r"broken\.jpg"):
        load_rgb(tmp_path / "broken.jpg")


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(("n_pos", "n_neg"), [(10, 20), (4, 9), (33, 67)])
def test_no_patient_in_two_splits_and_every_split_has_both_classes(
    seed: int, n_pos: int, n_neg: int
) -> None:
    records = _records(n_pos, n_neg)
    assignment = split_patients(records, {"train": 0.7, "val": 0.15, "test": 0.15}, seed)
    assert set(assignment) == {r.patient for r in records}
    for split in ("train", "val", "test"):
        labels = {r.label for r in records if assignment[r.patient] == split}
        assert labels == {0, 1}, split
    train_share = sum(v == "train" for v in assignment.values()) / len(assignment)
    assert 0.55 <= train_share <= 0.8


def test_permuted_labels_stay_per_patient_and_per_split_and_leave_test_alone() -> None:
    records = _records(12, 24)
    assignment = split_patients(records, {"train": 0.7, "val": 0.15, "test": 0.15}, 0)
    rows = [(r, assignment[r.patient]) for r in records]
    labels = permute_labels(rows, ("train", "val"), seed=3)
    assert labels == permute_labels(rows, ("train", "val"), seed=3)
    by_patient: dict[str, set[int]] = {}
    for (record, _), label in zip(rows, labels, strict=True):
        by_patient.setdefault(record.patient, set()).add(label)
    assert all(len(found) == 1 for found in by_patient.values()), "a patient keeps one label"
    for split in ("train", "val", "test"):
        old = sorted(r.label for r, name in rows if name == split)
        new = sorted(label for (_, name), label in zip(rows, labels, strict=True) if name == split)
        assert old == new, f"{split} keeps its class counts"
    pairs = list(zip(rows, labels, strict=True))
    assert all(record.label == label for (record, name), label in pairs if name == "test")
    changed = {record.patient for (record, name), label in pairs if record.label != label}
    assert changed and all(assignment[p] in ("train", "val") for p in changed)


def test_split_is_seeded() -> None:
    records = _records(10, 20)
    fractions = {"train": 0.7, "val": 0.15, "test": 0.15}
    assert split_patients(records, fractions, 1) == split_patients(records, fractions, 1)
    assert split_patients(records, fractions, 1) != split_patients(records, fractions, 2)


def test_train_val_only_when_test_is_external() -> None:
    assignment = split_patients(_records(6, 12), {"train": 0.7, "val": 0.15, "test": 0.0}, 0)
    assert set(assignment.values()) == {"train", "val"}


def test_split_file_round_trip_and_leak_detection(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 4, "non_icas": 6}, size=16)
    classes = resolve_classes(find_class_dirs(root), None, str(root))
    records = scan_folder(root, classes, "^([^_-]+)")
    assignment = split_patients(records, {"train": 0.6, "val": 0.2, "test": 0.2}, 0)
    rows = [(r, assignment[r.patient]) for r in records]
    write_splits(tmp_path / "splits.csv", rows, classes)
    assert read_splits(tmp_path / "splits.csv", classes) == rows

    lines = (tmp_path / "splits.csv").read_text().splitlines()
    header, first, *rest = lines
    path, patient, label, split, positive, site = first.split(",")
    moved = "test" if split == "train" else "train"
    leaked = ",".join([path, patient, label, moved, positive, site])
    assert header.split(",")[3:] == ["split", "positive", "site"]
    twin = next(line for line in rest if line.split(",")[1] == first.split(",")[1])
    (tmp_path / "bad.csv").write_text("\n".join([header, leaked, twin]) + "\n")
    with pytest.raises(DatasetError, match="is in both"):
        read_splits(tmp_path / "bad.csv", classes)


def test_external_test_folder_is_the_whole_test_split(tmp_path: Path) -> None:
    train_root = make_toy_dataset(tmp_path / "train", {"icas": 6, "non_icas": 12}, size=16)
    test_root = make_toy_dataset(
        tmp_path / "ext", {"icas": 3, "non_icas": 3}, size=16, seed=1, prefix="X"
    )
    data = thermal_data(tmp_path, data_dir=str(train_root), test_dir=str(test_root))
    data.setup()
    assert {Path(r.path).parents[1] for r in data.records("test")} == {test_root.resolve()}
    assert {Path(r.path).parents[1] for r in data.records("train")} == {train_root.resolve()}
    assert data.records("val") and data.counts("test") == {"icas": 6, "non_icas": 6}
    assert data.images is not None and data.images.shape == (len(data.rows), 3, 16, 16)


def test_upper_case_class_folders_make_icas_positive_and_splits_csv_says_so(
    tmp_path: Path,
) -> None:
    """`ICAS/` and `Non_ICAS/`, as exports write them: once the last sorted name, the controls,
    silently became the positive class."""
    root = make_toy_dataset(tmp_path / "d", {"ICAS": 6, "Non_ICAS": 12}, size=16)
    data = thermal_data(tmp_path, data_dir=str(root))
    data.setup()
    assert data.classes.positive == "ICAS" and data.classes.names == ("ICAS", "Non_ICAS")
    data.write_splits(tmp_path / "run")
    with (tmp_path / "run" / "splits.csv").open() as handle:
        marked = {(row["label"], row["positive"]) for row in csv.DictReader(handle)}
    assert marked == {("ICAS", "1"), ("Non_ICAS", "0")}


@pytest.mark.parametrize("same_folder", [False, True])
def test_external_test_folder_may_not_share_patients_with_training(
    tmp_path: Path, same_folder: bool
) -> None:
    train_root = make_toy_dataset(tmp_path / "train", {"icas": 6, "non_icas": 12}, size=16)
    test_root = train_root
    if not same_folder:
        test_root = make_toy_dataset(tmp_path / "ext", {"icas": 3, "non_icas": 3}, size=16)
    data = thermal_data(tmp_path, data_dir=str(train_root), test_dir=str(test_root))
    with pytest.raises(DatasetError, match=r"share \d+ patient id\(s\) \(e.g. \['I000'"):
        data.setup()


def test_external_test_folder_must_have_the_same_classes(tmp_path: Path) -> None:
    train_root = make_toy_dataset(tmp_path / "train", {"icas": 6, "non_icas": 12}, size=16)
    test_root = make_toy_dataset(tmp_path / "ext", {"icas": 2, "other": 2}, size=16)
    data = thermal_data(tmp_path, data_dir=str(train_root), test_dir=str(test_root))
    with pytest.raises(DatasetError, match="has classes"):
        data.setup()


@pytest.mark.parametrize("seed", range(6))
def test_patients_without_a_usable_image_take_no_place_in_the_split(
    tmp_path: Path, seed: int
) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 6, "non_icas": 12}, size=16)
    (root / "icas" / "I099_0.png").write_bytes(b"garbage, not an image")
    data = thermal_data(tmp_path, data_dir=str(root), split_seed=seed)
    data.setup()
    assert [Path(path).name for path, _ in data.skipped] == ["I099_0.png"]
    assert "I099" not in {record.patient for record, _ in data.rows}
    for split in ("train", "val", "test"):
        assert data.counts(split)["icas"] > 0, split


@pytest.mark.parametrize("setting", ["test_dir", "num_folds"])
def test_a_split_file_excludes_other_ways_of_choosing_the_test_set(
    tmp_path: Path, setting: str
) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 6, "non_icas": 12}, size=16)
    data = thermal_data(tmp_path, data_dir=str(root))
    data.setup()
    data.write_splits(tmp_path)
    value = str(root) if setting == "test_dir" else 3
    reused = thermal_data(
        tmp_path, data_dir=str(root), split_file=str(tmp_path / "splits.csv"), **{setting: value}
    )
    with pytest.raises(DatasetError, match=f"data.split_file fixes every split.*data.{setting}"):
        reused.setup()


def test_split_without_both_classes_reports_the_counts(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 1, "non_icas": 8}, size=16)
    with pytest.raises(DatasetError, match="images per class"):
        thermal_data(tmp_path, data_dir=str(root)).setup()


def test_class_weights_favour_the_minority(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 10, "non_icas": 20}, size=16)
    data = thermal_data(tmp_path, data_dir=str(root))
    data.setup()
    icas, control = data.class_weights()
    assert icas > 1.0 > control


def test_training_batches_made_on_the_device_are_slices_of_the_training_split(
    tmp_path: Path,
) -> None:
    data = thermal_data(tmp_path, augment_on="device")
    data.setup()
    assert data.images is not None and data.labels is not None
    device_batches = data.device_batches()
    assert device_batches is not None and data.device_batches() is device_batches
    device_batches.augment = torch.nn.Identity()  # the gather alone
    train = set(data.indices("train"))
    seen: list[int] = []
    for batch in data.for_stage(batch_size=4).loader("train", train=True):
        assert batch.keys() == {"index"}, "the loader ships indices only"
        (image,), label = device_batches(batch["index"])
        assert torch.equal(image, data.images[batch["index"]])
        assert torch.equal(label, data.labels[batch["index"]])
        views, _ = device_batches(batch["index"], views=2)
        assert len(views) == 2 and all(torch.equal(view, image) for view in views)
        seen.extend(batch["index"].tolist())
    assert set(seen) <= train and len(seen) == len(set(seen)) == len(train) // 4 * 4
    assert device_batches.state_dict() == {}, "checkpoints must not hold the image cache"
