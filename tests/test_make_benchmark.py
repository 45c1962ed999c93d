"""scripts/make_benchmark.py: a labelled benchmark from segmented faces, on fake faces here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.conftest import load_script, thermal_data
from thermal_icas.core.data.classes import resolve_classes
from thermal_icas.core.data.records import find_class_dirs, scan_folder

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "make_benchmark.py"
REGION = (0.1, 0.3, 0.2, 0.4)  # (u0, u1, v0, v1) of the face bbox: the cooled upper face


@pytest.fixture(scope="module")
def mb() -> ModuleType:
    return load_script("make_benchmark")


def make_source(folder: Path, n_patients: int = 12, n_images: int = 3, seed: int = 0) -> Path:
    """Grey symmetric ellipse faces with mirrored warm/cool blobs, shifted a little per image;
    one patient's id holds '_' and '-', one patient is stored as colour JPEG."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:240, 0:206].astype(np.float32)
    for p in range(n_patients):
        pid = "pt_A-07" if p == 6 else f"t360S{p + 1:02d}"
        base, ax, ay = rng.uniform(170, 210), rng.uniform(50, 62), rng.uniform(70, 85)
        blobs = rng.uniform([10, -40, 6, -25], [40, 40, 12, 25], (3, 4))
        for i in range(n_images):
            cx, cy = 103 + rng.integers(-4, 5), 120 + rng.integers(-4, 5)
            image = np.full(x.shape, base, np.float32)
            for bx, by, sigma, amp in blobs:
                for side in (-1, 1):
                    r2 = (x - cx - side * bx) ** 2 + (y - cy - by) ** 2
                    image += amp * np.exp(-r2 / (2 * sigma**2))
            image += rng.normal(0, 1.5, x.shape)
            face = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 <= 1
            image = np.where(face, np.clip(image, 40, 255), 0).astype(np.uint8)
            if p == 3:
                cv2.imwrite(str(folder / f"{pid}_{i:03d}.jpg"), cv2.merge([image] * 3))
            else:
                cv2.imwrite(str(folder / f"{pid}_{i:03d}.png"), image)
    return folder


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(tmp_path_factory.mktemp("src") / "faces")


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def halves(gray: np.ndarray) -> tuple[float, float]:
    """Mean intensity of the upper-face region left of the midline and of its mirror image."""
    ys, xs = np.nonzero(gray > 10)
    mid, top = (xs.min() + xs.max()) / 2, ys.min()
    width, height = np.ptp(xs) + 1, np.ptp(ys) + 1
    u0, u1, v0, v1 = REGION
    rows = slice(round(top + v0 * height), round(top + v1 * height))
    offsets = np.arange(round(u0 * width), round(u1 * width))
    left = gray[rows, np.round(mid - offsets).astype(int)]
    right = gray[rows, np.round(mid + offsets).astype(int)]
    return float(left.mean()), float(right.mean())


@pytest.mark.slow
def test_layout_patients_split_and_cli(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(source), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert re.fullmatch(
        r"baseline_auroc=\d\.\d{4} ci_low=\S+ ci_high=\S+", run.stdout.split("\n")[-2]
    )
    images = manifest(out)["images"]
    assert len(images) == 36
    assert {p.relative_to(out).as_posix() for p in out.rglob("*.jpg")} == {
        r["file"] for r in images
    }
    split_of: dict[str, set[str]] = {}
    for record in images:
        split, cls, name = record["file"].split("/")
        assert (split, cls) == (record["split"], "icas" if record["label"] else "non_icas")
        assert name.startswith(f"{record['patient']}_")
        assert cv2.imread(str(out / record["file"])).shape == (512, 512, 3)
        split_of.setdefault(record["patient"], set()).add(split)
    assert all(len(splits) == 1 for splits in split_of.values())
    regex = OmegaConf.load(ROOT / "conf" / "data" / "default.yaml").patient_regex
    for split in ("train", "test"):  # patients as the project reads them
        classes = resolve_classes(find_class_dirs(out / split), None, split)
        found = {
            (r.patient, classes.names[r.label]) for r in scan_folder(out / split, classes, regex)
        }
        expected = {(r["patient"], r["file"].split("/")[1]) for r in images if r["split"] == split}
        assert found == expected
    assert "ptA07" in split_of and len(split_of) == 12
    labels = {r["patient"]: (r["label"], r["split"]) for r in images}
    for split in ("train", "test"):
        share = [label for label, s in labels.values() if s == split]
        assert 0.2 <= np.mean(share) <= 0.5, (split, share)
    assert sum(s == "test" for _, s in labels.values()) == 3
    assert sum(label for label, _ in labels.values()) == 4
    assert "redistribute" in (out / "README.txt").read_text()
    # a second build into the same folder must be asked for
    with pytest.raises(SystemExit, match="--overwrite"):
        load_script("make_benchmark").main([str(source), str(out)])


@pytest.mark.slow
def test_same_seed_same_bytes(mb: ModuleType, source: Path, tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        mb.main([str(source), str(tmp_path / name), "--seed", str(seed), "--shortcut"])
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.*"))
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.*"))
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    assert manifest(tmp_path / "a") != manifest(tmp_path / "c")


def test_positives_cooler_on_their_side(mb: ModuleType, source: Path, tmp_path: Path) -> None:
    mb.main([str(source), str(tmp_path / "b"), "--palette", "gray", "--depth", "0.1"])
    records = manifest(tmp_path / "b")["images"]
    for record in records:
        left, right = halves(cv2.imread(str(tmp_path / "b" / record["file"]), 0))
        if record["label"]:
            cooled, other = (left, right) if record["signal_side"] == "left" else (right, left)
            assert cooled < other - 5, record
        else:
            assert abs(left - right) < 2, record
            assert record["signal_side"] is None and record["signal_magnitude"] == 0
    assert {r["signal_side"] for r in records if r["label"]} == {"left", "right"}


def test_bilateral_negatives_cooled_on_both_sides(
    mb: ModuleType, source: Path, tmp_path: Path
) -> None:
    common = [str(source), "--palette", "gray", "--bilateral-fraction", "1"]
    mb.main([*common[:1], str(tmp_path / "cool"), *common[1:], "--depth", "0.1"])
    mb.main([*common[:1], str(tmp_path / "none"), *common[1:], "--depth", "0"])
    records = manifest(tmp_path / "cool")["images"]
    assert [r["label"] for r in records] == [
        r["label"] for r in manifest(tmp_path / "none")["images"]
    ]
    for record in (r for r in records if not r["label"]):
        assert record["bilateral"]
        cool = halves(cv2.imread(str(tmp_path / "cool" / record["file"]), 0))
        plain = halves(cv2.imread(str(tmp_path / "none" / record["file"]), 0))
        assert cool[0] < plain[0] - 5 and cool[1] < plain[1] - 5, record
        assert abs(cool[0] - cool[1]) < 2.5, record


def test_shortcut_tracks_label_in_train_reversed_in_test(
    mb: ModuleType, source: Path, tmp_path: Path
) -> None:
    mb.main([str(source), str(tmp_path / "plain")])
    mb.main([str(source), str(tmp_path / "short"), "--shortcut"])
    records = manifest(tmp_path / "short")["images"]
    assert [r["file"] for r in records] == [
        r["file"] for r in manifest(tmp_path / "plain")["images"]
    ]
    share: dict[tuple[str, int], list[bool]] = {}
    for record in records:
        plain = cv2.imread(str(tmp_path / "plain" / record["file"]))
        short = cv2.imread(str(tmp_path / "short" / record["file"]))
        added = np.abs(short.astype(int) - plain).max(-1) > 60
        face = cv2.dilate((plain.max(-1) > 10).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        assert (added.sum() > 300) == record["shortcut"], record
        assert not np.any(added & face), record
        share.setdefault((record["split"], record["label"]), []).append(record["shortcut"])
    rate = {key: np.mean(values) for key, values in share.items()}
    assert rate["train", 1] > 0.7 and rate["train", 0] < 0.3, rate
    assert rate["test", 1] < 0.3 and rate["test", 0] > 0.7, rate


@pytest.fixture(scope="module")
def cv_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(tmp_path_factory.mktemp("cv") / "faces", n_patients=24, n_images=2, seed=1)


def test_baseline_finds_the_cooling(mb: ModuleType, cv_source: Path, tmp_path: Path) -> None:
    out = tmp_path / "cv"
    mb.main([str(cv_source), str(out), "--test-fraction", "0", "--depth", "0.1"])
    assert not (out / "test").exists()
    result = mb.baseline(out)
    assert result.mode == "cv" and result.n_patients == 24 and result.n_positive == 8
    assert result.auroc > 0.9 and result.interval[0] <= result.auroc <= result.interval[1]
    assert result.interval[0] > 0.7


@pytest.mark.slow
def test_baseline_at_chance_without_cooling(
    mb: ModuleType, cv_source: Path, tmp_path: Path
) -> None:
    """One null draw of 24 patients scatters widely (AUROC sd about 0.12), so five label draws
    are pooled: their mean must sit near 0.5 and at most one 95% interval may miss 0.5."""
    results = []
    for seed in range(5):
        out = tmp_path / f"null{seed}"
        argv = [str(cv_source), str(out), "--test-fraction", "0", "--depth", "0"]
        results.append(mb.main([*argv, "--seed", str(seed)]))
    assert all(result.mode == "cv" for result in results)
    assert abs(np.mean([result.auroc for result in results]) - 0.5) < 0.15
    assert sum(not low <= 0.5 <= high for low, high in (r.interval for r in results)) <= 1
    assert mb.main([str(cv_source), str(tmp_path / "null0"), "--baseline-only"]) == results[0]


@pytest.fixture(scope="module")
def sites_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_source(tmp_path_factory.mktemp("sites") / "faces", n_patients=60, n_images=1)


@pytest.mark.parametrize("skew", [0.5, 0.9])
def test_two_sites_the_second_captured_differently(
    mb: ModuleType, sites_source: Path, tmp_path: Path, skew: float
) -> None:
    """Half of each class at each site: the capture says nothing of the label; most ICAS
    people at the second site: the audit sees the label in how the images were captured."""
    bench = tmp_path / "bench"
    mb.main([str(sites_source), str(bench), "--test-fraction", "0"])
    sites = tmp_path / "sites"
    load_script("make_sites").main([str(bench), str(sites), "--skew", str(skew)])
    icas_at_b = len({p.stem.split("_")[0] for p in (sites / "site_b" / "icas").glob("*.jpg")})
    assert icas_at_b == round(skew * 20)
    image = cv2.imread(str(next((sites / "site_b").rglob("*.jpg"))))
    assert image.shape == (240, 320, 3)
    assert np.abs(image[..., 0].astype(int) - image[..., 2]).max() <= 3  # grey, not inferno
    data = thermal_data(tmp_path, data_dir=str(sites), site_from="folder")
    data.setup()
    assert {record.site for record, _ in data.rows} == {"site_a", "site_b"}
    assert data.acquisition is not None and data.acquisition.alarm == (skew == 0.9)
