"""Another camera: its model (data.camera), the camera-shift benchmark, the sweep summary of
the test patients on it (--view shift)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from torchvision import models

from tests.conftest import ComposeFn, load_script, make_toy_dataset
from tests.test_batch_augment import MEAN, STD, STILL
from tests.test_make_benchmark import make_source
from tests.test_summary import LABELS, PATIENTS, make_cv_jobs
from thermal_icas.analysis.html_report import render_report
from thermal_icas.analysis.summary import summarize_multirun
from thermal_icas.core.asymmetry import Asymmetry, build_adapter
from thermal_icas.core.data.batch_augment import BatchAugment
from thermal_icas.core.data.camera import CameraJitter, CameraShift
from thermal_icas.core.data.preprocess import FACE_MEAN, FACE_SPREAD, standardize_face
from thermal_icas.core.data.transforms import eval_transform, train_transform
from thermal_icas.core.evaluation.bootstrap import BootstrapSettings
from thermal_icas.core.evaluation.domain import unpaired_drop
from thermal_icas.core.evaluation.patients import Scores, auroc, write_patients
from thermal_icas.core.models import ThermalClassifier, ThermalEncoder
from thermal_icas.train.pipeline import run


def face_image(size: int = 64, seed: int = 0) -> torch.Tensor:
    """One grey channel: a textured ellipse at 0.3-0.9 on black."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    face = ((y - size / 2) / (0.4 * size)) ** 2 + ((x - size / 2) / (0.3 * size)) ** 2 < 1
    values = rng.uniform(0.3, 0.9, (size, size))
    return torch.from_numpy(np.where(face, values, 0.0)).float()[None]


def test_a_camera_with_no_changes_leaves_the_image_as_it_is() -> None:
    image = face_image()
    assert torch.allclose(CameraShift()(image), image)


def test_the_background_takes_the_cameras_level_and_the_face_stays_in_place() -> None:
    image = face_image()
    out = CameraShift(background=0.05, gamma=0.8, noise=0.02)(image, torch.Generator())
    face = image > 0
    assert torch.all(out[~face] == 0.05)
    assert torch.all(out[face] != image[face]) or not torch.allclose(out[face], image[face])
    assert out.min() >= 0 and out.max() <= 1


def test_the_fixed_pattern_is_the_cameras_own_the_same_in_every_image() -> None:
    flat = torch.where(face_image() > 0, 0.5, 0.0)
    camera = CameraShift(stripes=0.02)
    first, second = camera(flat), camera(flat)
    assert torch.equal(first, second), "no temporal noise: the same pattern twice"
    columns = (first - flat)[0, 32, 24:40]
    assert columns.std() > 0.005, "columns get their own offsets"
    other = CameraShift(stripes=0.02, pattern_seed=1)(flat)
    assert not torch.equal(first, other), "another camera has another pattern"


def test_a_coarser_sensor_and_blur_remove_fine_detail() -> None:
    image = face_image()
    face = image > 0
    inner = torch.from_numpy(cv2.erode(face[0].numpy().astype(np.uint8), np.ones((9, 9))) > 0)
    detail = image[0][inner].std()
    for camera in (CameraShift(scale=0.25), CameraShift(blur=2.0)):
        assert camera(image)[0][inner].std() < 0.6 * detail


@pytest.mark.parametrize("bad", [{"scale": 0.0}, {"gamma": 0.0}, {"noise": -0.1}])
def test_impossible_camera_settings_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="camera"):
        CameraShift(**bad)


def test_jitter_draws_a_new_camera_per_image_and_keeps_the_background() -> None:
    torch.manual_seed(0)
    batch = torch.stack([face_image(seed=s).expand(3, -1, -1) for s in range(2)])
    out = CameraJitter()(batch)
    face = batch.amax(dim=1, keepdim=True).expand_as(batch) > 0
    assert out.shape == batch.shape
    assert torch.equal(out[~face], batch[~face])
    assert not torch.allclose(out[face], batch[face])
    assert torch.allclose(out[:, 0], out[:, 1]), "every channel changes alike: no hue"
    assert out.min() >= 0 and out.max() <= 1


@pytest.mark.slow
def test_the_benchmark_holds_the_same_people_on_both_cameras(tmp_path: Path) -> None:
    bench = load_script("make_benchmark")
    shift = load_script("make_camera_shift")
    source = make_source(tmp_path / "faces", n_patients=15)
    bench.main([str(source), str(tmp_path / "bench"), "--test-fraction", "0", "--depth", "0.2"])

    result = shift.main([str(tmp_path / "bench"), str(tmp_path / "out"), "--palette", "gray"])

    a = sorted(
        p.relative_to(tmp_path / "out/camera_a") for p in (tmp_path / "out/camera_a").rglob("*.jpg")
    )
    b = sorted(
        p.relative_to(tmp_path / "out/camera_b") for p in (tmp_path / "out/camera_b").rglob("*.jpg")
    )
    assert a == b and len(a) == 45
    first = cv2.imread(str(tmp_path / "out/camera_b" / a[0]), cv2.IMREAD_GRAYSCALE)
    assert abs(int(first[0, 0]) - round(0.02 * 255)) <= 2, "the camera's background level"
    spec = json.loads((tmp_path / "out/manifest.json").read_text())["spec"]
    assert spec["camera_b"]["scale"] == 0.5 and spec["palette_b"] == "gray"
    assert result["n_patients"] == 15
    (in_auc, *_), (out_auc, *_), (drop, low, high) = result["in"], result["out"], result["drop"]
    assert drop == pytest.approx(in_auc - out_auc)
    assert low <= drop <= high


def write_shifted(root: Path, scores: np.ndarray, skip: str = "") -> None:
    """Each fold job of make_cv_jobs gets shift/ results: its patients with `scores`."""
    for job in sorted(p for p in root.iterdir() if (p / "test_patients.csv").is_file()):
        if skip and job.name.startswith(skip):
            continue
        held = np.isin(
            PATIENTS,
            np.loadtxt(job / "test_patients.csv", str, delimiter=",", skiprows=1, usecols=0),
        )
        folder = job / "shift"
        folder.mkdir()
        (folder / "metrics.json").write_text(json.dumps({"test/auroc": 0.6}))
        patients = Scores(PATIENTS[held], LABELS[held], scores[held], np.full(held.sum(), 2))
        write_patients(folder / "test_patients.csv", patients, 0.5, ("non_icas", "icas"))


def test_the_shift_view_compares_arms_on_the_other_camera_and_gives_each_drop(
    tmp_path: Path,
) -> None:
    noise = np.random.default_rng(0).normal(size=90)
    strong = 1 / (1 + np.exp(-(3.0 * LABELS + noise)))
    weak = 1 / (1 + np.exp(-(0.5 * LABELS + noise)))
    make_cv_jobs(tmp_path, "none", strong)
    make_cv_jobs(tmp_path, "content_based", strong)
    write_shifted(tmp_path, weak, skip="none")
    write_shifted(tmp_path, strong, skip="content_based")

    summary = summarize_multirun(tmp_path, baseline="mask=none", n_bootstrap=1000, view="shift")

    rows = {row.arm: row for row in summary.rows}
    assert rows["mask=content_based"].patient is not None
    shifted = rows["mask=content_based"].patient["auroc"]
    assert shifted.value == pytest.approx(roc_auc_score(LABELS, weak))
    assert summary.drops is not None
    drop = summary.drops["mask=content_based"]
    assert drop.value == pytest.approx(roc_auc_score(LABELS, strong) - roc_auc_score(LABELS, weak))
    assert drop.ci[0] > 0 and drop.n_patients == 90
    same = summary.drops["mask=none"]
    assert same.value == 0.0 and same.ci == (0.0, 0.0), "the same scores on both cameras"
    markdown = (tmp_path / "shift" / "summary.md").read_text()
    assert "Drop from the training camera" in markdown
    assert not (tmp_path / "summary.md").exists(), "the camera's summary has its own folder"


def test_a_job_without_the_other_cameras_results_says_why(tmp_path: Path) -> None:
    scores = np.random.default_rng(1).random(90)
    make_cv_jobs(tmp_path, "none", scores)
    write_shifted(tmp_path, scores, skip="none_None_4")

    summary = summarize_multirun(tmp_path, baseline="mask=none", n_bootstrap=200, view="shift")

    (failed,) = summary.failed
    assert "eval.shift_dir" in failed.reason


def test_the_report_shows_both_cameras_side_by_side(tmp_path: Path) -> None:
    metrics = {
        "val/patient/auroc": 0.9,
        "test/patient/auroc": 0.88,
        "shift/patient/auroc": 0.61,
        "shift/patient/auroc_ci_low": 0.4,
        "shift/patient/auroc_ci_high": 0.8,
        "shift/patient/auroc_drop": 0.27,
        "shift/patient/auroc_drop_ci_low": 0.1,
        "shift/patient/auroc_drop_ci_high": 0.45,
        "shift/patient/n_paired": 40.0,
    }
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))

    text = render_report(tmp_path)

    assert "Another camera" in text and "40 patients in the pair" in text
    assert "0.270 [0.100, 0.450]" in text and "0.610 [0.400, 0.800]" in text


def test_a_face_standardised_on_its_own_forgets_the_cameras_gain_and_offset() -> None:
    rng = np.random.default_rng(0)
    image = np.zeros((40, 40, 3), np.float32)
    face = np.zeros((40, 40), bool)
    face[8:32, 10:30] = True
    image[face] = rng.uniform(0.4, 0.7, (face.sum(), 1))
    image[0, 0] = 0.2  # a background pixel keeps its value

    out = standardize_face(image, face)
    brighter = standardize_face(np.where(face[..., None], 1.3 * image + 0.1, image), face)

    assert out[face].mean() == pytest.approx(FACE_MEAN, abs=1e-4)
    assert out[face].std() == pytest.approx(FACE_SPREAD, abs=1e-3)
    np.testing.assert_allclose(brighter[face], out[face], atol=1e-5)
    assert out[0, 0, 0] == pytest.approx(0.2) and out[~face].sum() == pytest.approx(0.6)


def test_camera_augmentation_changes_the_face_on_either_augmentation_path() -> None:
    images = torch.stack([face_image(16, seed).expand(3, -1, -1) for seed in range(4)])
    images = (images * 255).round().to(torch.uint8)
    evaluated = torch.stack([eval_transform(MEAN, STD)(image) for image in images])
    face = images.amax(dim=1, keepdim=True).expand_as(images) > 0
    cameras = replace(STILL, camera=True)
    torch.manual_seed(0)
    on_device = BatchAugment(16, cameras, MEAN, STD)(images)
    on_cpu = torch.stack([train_transform(16, cameras, MEAN, STD)(image) for image in images])
    for out in (on_device, on_cpu):
        assert not torch.allclose(out[face], evaluated[face], atol=1e-3)
        torch.testing.assert_close(out[~face], evaluated[~face], atol=1e-5, rtol=0)
    still = BatchAugment(16, STILL, MEAN, STD)(images)
    torch.testing.assert_close(still, evaluated, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_a_run_with_every_camera_option_at_a_site_it_never_saw(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    for site in ("north", "south"):
        make_toy_dataset(tmp_path / "sites" / site, {"icas": 6, "non_icas": 10}, 2, 32, 0, site)
    sites = [f"data.data_dir={tmp_path / 'sites'}", "data.site_from=folder", "data.site_folds=true"]
    options = ["data.normalize=face", "data.augment.camera=true", "model.tta_flip=true"]
    difference = ["asymmetry=on", "asymmetry.fusion=difference"]
    cfg = compose_cfg(["experiment=smoke", "debug=fast", *sites, *options, *difference])

    metrics = run(cfg)

    drop = metrics["test/unseen_site/patient/auroc_drop"]
    assert drop == pytest.approx(metrics["val/patient/auroc"] - metrics["test/patient/auroc"])
    low, high = (metrics[f"test/unseen_site/patient/auroc_drop_ci_{s}"] for s in ("low", "high"))
    assert low <= drop <= high
    report = (Path(cfg.paths.output_dir) / "report.html").read_text()
    assert "A site never trained on" in report


def test_an_unseen_sites_drop_resamples_each_set_on_its_own() -> None:
    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3 == 0

    def scores(signal: float, prefix: str) -> Scores:
        values = 1 / (1 + np.exp(-(signal * labels + rng.normal(size=60))))
        return Scores(
            np.array([f"{prefix}{i}" for i in range(60)]),
            labels.astype(int),
            values,
            np.ones(60, int),
        )

    strong, weak = scores(4.0, "a"), scores(0.2, "b")
    big = unpaired_drop(strong, weak, BootstrapSettings(1000, 0.95, 0), "x/")
    assert big["x/auroc_drop"] == pytest.approx(auroc(strong) - auroc(weak))
    assert big["x/auroc_drop_ci_low"] > 0 and big["x/auroc_drop_p"] < 0.01
    same = unpaired_drop(strong, strong, BootstrapSettings(1000, 0.95, 0), "x/")
    assert same["x/auroc_drop"] == 0.0
    assert same["x/auroc_drop_ci_low"] < 0 < same["x/auroc_drop_ci_high"], "two draws, not one"


def test_the_difference_input_starts_as_the_plain_model_on_a_symmetric_face(
    tmp_path: Path,
) -> None:
    torch.manual_seed(0)
    torch.save(models.resnet18(weights=None).state_dict(), tmp_path / "w.pth")
    plain = ThermalEncoder(pretrained=str(tmp_path / "w.pth")).eval()
    asymmetry = Asymmetry("difference")
    difference = ThermalEncoder(pretrained=str(tmp_path / "w.pth"), asymmetry=asymmetry).eval()
    half = torch.randn(2, 3, 64, 32)
    symmetric = torch.cat([half, half.flip(-1)], dim=-1)
    cooled = symmetric.clone()
    cooled[:, :, 10:30, 4:20] -= 0.5
    with torch.no_grad():
        torch.testing.assert_close(difference(symmetric), plain(half))
        assert not torch.allclose(difference(cooled), plain(cooled[..., :32]), atol=1e-3)
    conv = difference.trunk["stem"][0]
    assert conv.in_channels == 9
    assert build_adapter("difference").split(symmetric)[:, 6:].abs().max() == 0


def test_flip_averaging_makes_an_evaluating_model_score_a_face_and_its_mirror_alike() -> None:
    torch.manual_seed(0)
    encoder = ThermalEncoder(asymmetry=Asymmetry("difference"))
    classifier = ThermalClassifier(encoder, 2, 0.0, tta_flip=True).eval()
    faces = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(classifier(faces), classifier(faces.flip(-1)))
        one_view = classifier.classify(encoder(faces))
        assert not torch.allclose(classifier(faces), one_view)
        classifier.train()  # batch statistics: compare one view with one view, in training
        single = classifier.classify(encoder(faces))
        torch.testing.assert_close(classifier(faces), single, msg="training sees one view")
