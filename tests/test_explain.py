"""Explanation maps and focus metrics: what they measure, and that they work inside Lightning."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from tests.conftest import ComposeFn, load_script
from thermal_icas.core.asymmetry import Asymmetry
from thermal_icas.core.explain import FocusMetrics, explain_batch, in_face_share, top_mass_share
from thermal_icas.core.explain.maps import ExplanationMaps
from thermal_icas.core.explain.report import write_explanations
from thermal_icas.core.explain.shortcut import shortcut_alarm
from thermal_icas.core.models.attention import Attention
from thermal_icas.core.models.encoder import ThermalEncoder, explain_layer
from thermal_icas.core.models.heads import ThermalClassifier
from thermal_icas.train.callbacks import explanations as explain_callback
from thermal_icas.train.config import project_root
from thermal_icas.train.pipeline import run


def _face(size: int = 32) -> torch.Tensor:
    """A centred square face covering a quarter of the frame."""
    face = torch.zeros(1, size, size)
    face[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 1.0
    return face


def test_in_face_is_one_for_a_map_that_is_zero_outside_the_face() -> None:
    face = _face()
    inside = torch.rand(1, 32, 32) * face
    assert in_face_share(inside, face).item() == pytest.approx(1.0)


def test_in_face_of_a_uniform_map_is_the_face_area_share() -> None:
    face = _face()
    uniform = torch.ones(1, 4, 4)  # a coarse map, upsampled to the face's resolution
    assert in_face_share(uniform, face).item() == pytest.approx(0.25, abs=1e-6)


def test_a_map_on_the_background_scores_low() -> None:
    face = _face()
    assert in_face_share(1.0 - face, face).item() < 0.01


def test_sparsity_is_the_top_ten_percent_mass_share() -> None:
    uniform = torch.ones(1, 8, 8)
    assert top_mass_share(uniform, (20, 20)).item() == pytest.approx(0.1, abs=0.01)
    peak = torch.zeros(1, 20, 20)
    peak[0, 3, 3] = 1.0
    assert top_mass_share(peak, (20, 20)).item() == pytest.approx(1.0)


def _classifier(fusion: str = "none", attention: bool = False) -> ThermalClassifier:
    torch.manual_seed(0)
    asymmetry = None if fusion == "none" else Asymmetry(fusion)
    gate = Attention("layer4") if attention else None
    encoder = ThermalEncoder("resnet18", "none", asymmetry=asymmetry, attention=gate)
    return ThermalClassifier(encoder, 2, 0.0).eval()


def test_maps_are_computed_under_inference_mode_and_with_a_frozen_encoder() -> None:
    classifier = _classifier(attention=True)
    classifier.encoder.requires_grad_(False)
    with torch.inference_mode():
        images = torch.randn(3, 3, 64, 64)
        maps = explain_batch(classifier, images, "layer2")
    assert maps.cam.shape == (3, 8, 8) and (maps.cam >= 0).all()
    assert maps.gate is not None and maps.gate.shape == (3, 2, 2)
    assert maps.left_share is None and maps.side is None
    assert not classifier.training, "explaining must not switch the model to training mode"
    assert all(p.grad is None for p in classifier.parameters())


@pytest.mark.parametrize("fusion", ["early", "siamese"])
def test_asymmetry_maps_cover_the_whole_face_and_see_which_half_drives(fusion: str) -> None:
    classifier = _classifier(fusion=fusion, attention=True)
    images = torch.randn(4, 3, 64, 64)
    images[..., 32:] = 0.0  # nothing on the right half can contribute
    maps = explain_batch(classifier, images, "layer2")
    assert maps.cam.shape == (4, 8, 8)
    assert maps.gate is not None and maps.gate.shape == (4, 2, 2)
    assert maps.left_share is not None and maps.side is not None
    assert torch.allclose(maps.left_share, torch.ones(4))


def test_explain_layer_auto_gives_maps_of_at_least_six_by_six() -> None:
    assert [explain_layer("auto", size) for size in (64, 96, 128, 224)] == [
        "layer2",
        "layer3",
        "layer3",
        "layer4",
    ]
    assert explain_layer("layer4", 64) == "layer4"
    with pytest.raises(ValueError, match=r"explain\.layer='fc'"):
        explain_layer("fc", 64)


def _three_class_model() -> tuple[ThermalClassifier, torch.Tensor, Callable]:
    """A random 3-class model, 4 images, and the score the maps explain: each class's margin
    over the mean of the others."""
    torch.manual_seed(0)
    classifier = ThermalClassifier(ThermalEncoder("resnet18", "none"), 3, 0.0).eval()

    def margins(x: torch.Tensor) -> torch.Tensor:
        logits = classifier(x)
        return logits - (logits.sum(-1, keepdim=True) - logits) / (logits.shape[-1] - 1)

    return classifier, torch.randn(4, 3, 64, 64), margins


def test_grad_cam_equals_captums_layer_grad_cam() -> None:
    """The hand-written Grad-CAM against a maintained implementation, on the same score."""
    from captum.attr import LayerGradCam

    classifier, images, margins = _three_class_model()
    ours = explain_batch(classifier, images, "layer3", "gradcam")
    reference = LayerGradCam(margins, classifier.encoder.trunk["layer3"]).attribute(
        images, target=ours.logits.argmax(-1).tolist(), relu_attributions=True
    )
    assert reference.shape == (4, 1, 4, 4) and ours.cam.abs().sum() > 0
    torch.testing.assert_close(ours.cam, reference[:, 0].detach(), rtol=1e-4, atol=1e-6)


def test_focus_metrics_average_and_skip_empty_maps() -> None:
    face = _face().expand(2, 1, 32, 32)
    inside = face[:, 0].clone()
    empty = torch.zeros(1, 32, 32)
    maps = ExplanationMaps(
        logits=torch.zeros(3, 2),
        cam=torch.cat([inside, empty]),
        gate=torch.ones(3, 32, 32),
        left_share=torch.tensor([0.2, 0.4, 0.6]),
        side=None,
    )
    metric = FocusMetrics("val/attention/")
    metric.update(maps, torch.cat([face, face[:1]]))
    values = {k: float(v) for k, v in metric.compute().items()}
    assert values["val/attention/in_face"] == pytest.approx(1.0)
    assert values["val/attention/face_area"] == pytest.approx(0.25, abs=1e-6)
    assert values["val/attention/gate_in_face"] == pytest.approx(0.25, abs=1e-6)
    assert values["val/attention/lr_balance"] == pytest.approx(0.4)


@pytest.mark.slow
def test_attention_and_asymmetry_run_writes_focus_metrics_and_overlays(
    compose_cfg: ComposeFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    modes: list[bool] = []

    def in_its_mode(out_dir: Path, classifier: torch.nn.Module, *args: object) -> object:
        modes.append(classifier.training)
        return write_explanations(out_dir, classifier, *args)

    # the overlays explain the tested model as it predicts: in eval mode (no dropout, no
    # BatchNorm batch statistics)
    monkeypatch.setattr(explain_callback, "write_explanations", in_its_mode)
    cfg = compose_cfg(["experiment=smoke", "attention=on", "asymmetry=on", "data.image_size=64"])
    run(cfg)
    assert modes == [False]
    out = Path(cfg.paths.output_dir)
    saved = json.loads((out / "metrics.json").read_text())
    for name in ("in_face", "face_area", "sparsity", "gate_in_face", "gate_sparsity", "lr_balance"):
        assert 0.0 <= saved[f"test/attention/{name}"] <= 1.0, name
    # a masked input is its own face-only image: the background cannot move it
    assert saved["test/attention/background_effect"] == pytest.approx(0.0, abs=1e-6)
    assert saved["test/attention/outside_face"] in (0.0, 1.0)
    with (out / "explain" / "index.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert {row["label"] for row in rows} == {"icas", "non_icas"}
    assert {row["outcome"] for row in rows} <= {"correct", "wrong"}
    assert all((out / "explain" / row["file"]).stat().st_size > 0 for row in rows)
    predictions = {}
    with (out / "test_predictions.csv").open() as handle:
        for row in csv.DictReader(handle):
            predictions[row["path"]] = row
    for row in rows:
        predicted = predictions[row["path"]]
        assert row["label"] == predicted["label"]
        right = predicted["predicted"] == predicted["label"]
        assert row["outcome"] == ("correct" if right else "wrong")


def test_the_overview_shows_each_chosen_image_with_its_own_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from thermal_icas.core.data.classes import ClassInfo
    from thermal_icas.core.data.datasets import CachedImageDataset
    from thermal_icas.core.data.records import ImageRecord
    from thermal_icas.core.data.transforms import eval_transform
    from thermal_icas.core.explain import report

    count = 8
    # image k is uniformly 10 * k, so every panel shows which image it is
    images = (torch.arange(count, dtype=torch.uint8) * 10).view(-1, 1, 1, 1).expand(-1, 3, 32, 32)
    faces = torch.full((count, 32, 32), 255, dtype=torch.uint8)
    labels = torch.tensor([k % 2 for k in range(count)])
    test = [6, 2, 5, 3, 7, 4]  # the test split's dataset indices, in the dataset's order
    dataset = CachedImageDataset(
        images, labels, test, eval_transform([0.5] * 3, [0.25] * 3), faces=faces
    )
    records = [ImageRecord(f"/x/P{k}_0.png", f"P{k}", int(labels[k])) for k in test]
    shown: list[torch.Tensor] = []
    rows = report.explanation_rows

    def spy(inputs: torch.Tensor, *args: object) -> object:
        shown.append(inputs.clone())
        return rows(inputs, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(report, "explanation_rows", spy)
    predicted = sorted(test)  # predictions come in another order than the split's
    probs = [0.9 if labels[k] else 0.1 for k in predicted]
    by_index = {record.patient: record for record in records}
    written = report.write_explanations(
        tmp_path,
        _classifier(),
        dataset,
        predicted,
        [by_index[f"P{k}"] for k in predicted],
        probs,
        0.5,
        ClassInfo(("a", "b"), "b"),
        "layer2",
        "hirescam",
    )
    *sheets, overview = shown
    assert len(sheets) == len(written) >= 2
    assert torch.equal(overview, torch.cat(sheets)), "row k of the overview is sheet k's image"


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_in_face_tells_a_background_shortcut_from_a_model_that_reads_the_face(seed: int) -> None:
    """scripts/focus_toy.py: the label lives in a bright patch, in the background or inside
    the face. Seed 1 is one where Grad-CAM put the shortcut model's mass on the face."""
    toy = load_script("focus_toy")
    levels = OmegaConf.load(project_root() / "conf" / "train.yaml").explain
    lifts, effects = {}, {}
    for place in toy.PLACES:
        classifier = toy.train_toy(place, seed)
        lift, accuracy = toy.focus_lift(classifier, place, seed, "hirescam")
        assert accuracy >= 0.9, f"the toy model must learn the {place} patch"
        lifts[place] = lift
        effects[place] = toy.toy_background_effect(classifier, place, seed)
    assert lifts["background"] < 0.7, "a model that reads the background must score below chance"
    assert lifts["face"] > 1.5 and lifts["face"] - lifts["background"] > 1.0
    # half the frames carry the patch: a model that reads only the patch moves by about 0.5
    assert effects["background"] > 0.3 > 0.05 > effects["face"]
    area = float(toy.FACE.mean())
    for place, alarm in (("background", True), ("face", False)):
        lift_only = {
            "test/attention/in_face": lifts[place] * area,
            "test/attention/face_area": area,
        }
        assert shortcut_alarm(lift_only, levels.min_in_face_lift) is alarm
        effect_only = {"test/attention/background_effect": effects[place]}
        assert shortcut_alarm(effect_only, 1.0, levels.max_background_effect) is alarm


def test_hirescam_equals_captums_gradient_x_activation() -> None:
    """HiResCAM is captum's LayerGradientXActivation summed over channels, positive part."""
    from captum.attr import LayerGradientXActivation

    classifier, images, margins = _three_class_model()
    ours = explain_batch(classifier, images, "layer3", "hirescam")
    reference = LayerGradientXActivation(margins, classifier.encoder.trunk["layer3"]).attribute(
        images, target=ours.logits.argmax(-1).tolist()
    )
    assert reference.shape == (4, 256, 4, 4) and ours.cam.abs().sum() > 0
    expected = torch.relu(reference.sum(1)).detach()
    torch.testing.assert_close(ours.cam, expected, rtol=1e-4, atol=1e-6)


def test_the_shortcut_alarm_fires_below_the_level_only() -> None:
    low = {"test/attention/in_face": 0.3, "test/attention/face_area": 0.4}
    assert shortcut_alarm(low, 0.8) and low["test/attention/outside_face"] == 1.0
    even = {"test/attention/in_face": 0.4, "test/attention/face_area": 0.4}
    assert not shortcut_alarm(even, 0.8) and even["test/attention/outside_face"] == 0.0
    assert not shortcut_alarm({"test/attention/in_face": 0.1}, 0.8)
    rests_outside = {"test/attention/background_effect": 0.2}
    assert shortcut_alarm(rests_outside, 0.8, 0.1) and rests_outside["test/attention/outside_face"]
    calm = {"test/attention/background_effect": 0.05, **even}
    assert not shortcut_alarm(calm, 0.8, 0.1) and calm["test/attention/outside_face"] == 0.0
