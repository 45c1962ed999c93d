"""The left/right comparison: alignment on the midline, the input adapters, the side blamed."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torchvision import models

from tests.conftest import make_toy_dataset, thermal_data
from thermal_icas.core.asymmetry import (
    Asymmetry,
    align_on_midline,
    build_adapter,
    face_midline,
    face_tilt,
    side_metrics,
    side_scores,
)
from thermal_icas.core.asymmetry.fusion import early_fusion_conv
from thermal_icas.core.data.transforms import AugmentConfig, MidlineCrop, train_transform
from thermal_icas.core.masks import ContentBasedMask, Masking
from thermal_icas.core.models import ThermalClassifier, ThermalEncoder
from thermal_icas.core.models.checkpoint import load_encoder, save_encoder

STILL = AugmentConfig(
    crop_scale=(1.0, 1.0),
    rotation_degrees=0.0,
    hflip_p=1.0,
    contrast=0.0,
    offset=0.0,
    blur_p=0.0,
    noise_std=0.0,
)


def _swap_sides(faces: torch.Tensor) -> torch.Tensor:
    """The mirror image: left and right halves trade places."""
    return faces.flip(-1)


def test_early_fusion_starts_as_the_three_channel_layer_on_equal_halves() -> None:
    torch.manual_seed(0)
    conv = models.resnet18(weights=None).conv1
    wide = early_fusion_conv(conv)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(wide(torch.cat([x, x], dim=1)), conv(x))
    # ...but, unlike [W/2, W/2], it responds to a difference between the halves
    assert not torch.allclose(wide.weight[:, :3], wide.weight[:, 3:])


def test_early_fusion_encoder_equals_the_plain_one_on_a_symmetric_face(tmp_path: Path) -> None:
    torch.manual_seed(0)
    torch.save(models.resnet18(weights=None).state_dict(), tmp_path / "w.pth")
    plain = ThermalEncoder(pretrained=str(tmp_path / "w.pth")).eval()
    early = ThermalEncoder(pretrained=str(tmp_path / "w.pth"), asymmetry=Asymmetry("early")).eval()
    half = torch.randn(2, 3, 64, 32)
    symmetric = torch.cat([half, half.flip(-1)], dim=-1)
    with torch.no_grad():
        torch.testing.assert_close(early(symmetric), plain(half))

    save_encoder(early, tmp_path / "enc.pt")
    reloaded = ThermalEncoder(asymmetry=Asymmetry("early")).eval()
    load_encoder(reloaded, tmp_path / "enc.pt")
    torch.testing.assert_close(reloaded.trunk["stem"][0].weight, early.trunk["stem"][0].weight)
    with pytest.raises(Exception, match="fusion"):
        load_encoder(ThermalEncoder(asymmetry=Asymmetry("siamese")), tmp_path / "enc.pt")


def _asymmetric_batch(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Label 1: one side (random) of the upper face is cooler; label 0: both sides alike."""
    faces = torch.rand(n, 3, 32, 32, generator=generator) * 0.2
    labels = torch.arange(n) % 2
    for i in range(n):
        if labels[i]:
            columns = slice(2, 10) if torch.rand((), generator=generator) < 0.5 else slice(22, 30)
            faces[i, :, 4:14, columns] -= 1.0
    return faces, labels


def _train(classifier: ThermalClassifier, steps: int = 8) -> None:
    """A few steps on faces and their mirror images, as the flip augmentation serves them."""
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-3)
    classifier.train()
    for _ in range(steps):
        faces, labels = _asymmetric_batch(8, generator)
        faces, labels = torch.cat([faces, _swap_sides(faces)]), torch.cat([labels, labels])
        loss = torch.nn.functional.cross_entropy(classifier(faces), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    classifier.eval()


@pytest.mark.slow
def test_trained_early_fusion_tells_the_halves_apart() -> None:
    torch.manual_seed(0)
    classifier = ThermalClassifier(ThermalEncoder(asymmetry=Asymmetry("early")), 2, 0.0)
    conv = classifier.encoder.trunk["stem"][0].weight
    start = (conv[:, :3] - conv[:, 3:]).detach().clone()
    _train(classifier)
    difference = (conv[:, :3] - conv[:, 3:]).detach()
    assert difference.abs().mean() > 0.01
    # the part that sees L - R learns too (from [W/2, W/2] it would get no gradient here)
    assert (difference - start).abs().max() > 1e-4
    faces, _ = _asymmetric_batch(8, torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert not torch.allclose(classifier(faces), classifier(_swap_sides(faces)), atol=1e-4)


def test_siamese_features_hold_the_shared_part_and_the_difference() -> None:
    torch.manual_seed(0)
    encoder = ThermalEncoder(asymmetry=Asymmetry()).eval()
    assert encoder.out_dim == 2 * 512
    faces, _ = _asymmetric_batch(4, torch.Generator().manual_seed(2))
    half = faces[..., :16]
    symmetric = torch.cat([half, half.flip(-1)], dim=-1)
    with torch.no_grad():
        features = encoder(faces)
        torch.testing.assert_close(features, encoder(_swap_sides(faces)))
        trunk = encoder.trunk
        last = trunk["layer4"](
            trunk["layer3"](trunk["layer2"](trunk["layer1"](trunk["stem"](half))))
        )
        plain = last.mean((2, 3))
        balanced = encoder(symmetric)
    torch.testing.assert_close(balanced[:, :512], plain)
    assert balanced[:, 512:].abs().max() < 1e-5
    assert features[1::2, 512:].abs().mean() > 1e-3  # the cooled faces differ between sides


def test_mirrored_halves_of_a_symmetric_face_are_identical() -> None:
    ramp = torch.linspace(0, 1, 8)
    symmetric = torch.cat([ramp, ramp.flip(0)]).expand(1, 3, 5, 16)
    early = build_adapter("early", "mirror").split(symmetric)
    assert early.shape == (1, 6, 5, 8)
    torch.testing.assert_close(early[:, :3], early[:, 3:])
    siamese = build_adapter("siamese", "mirror").split(symmetric)
    assert siamese.shape == (2, 3, 5, 8)
    torch.testing.assert_close(siamese[0], siamese[1])
    translated = build_adapter("early", "translate").split(symmetric)
    assert not torch.equal(translated[:, :3], translated[:, 3:])
    with pytest.raises(ValueError, match=r"asymmetry\.align='tilt'"):
        build_adapter("early", "tilt")
    with pytest.raises(ValueError, match=r"asymmetry\.fusion='late'"):
        build_adapter("late")
    with pytest.raises(ValueError, match=r"asymmetry\.fusion='late'"):
        Asymmetry("late")
    with pytest.raises(ValueError, match=r"asymmetry\.align='tilt'"):
        Asymmetry(align="tilt")


def test_half_maps_go_back_where_their_pixels_came_from() -> None:
    left = torch.zeros(1, 4, 4)
    left[0, 0, 0] = 1.0  # the outer corner of the left half
    right = torch.zeros(1, 4, 4)
    right[0, 1, 0] = 1.0  # the outer corner of the mirrored right half
    whole = build_adapter("siamese", "mirror").to_face(torch.cat([left, right]))
    assert whole.shape == (1, 4, 8)
    assert whole[0, 0, 0] == 1.0 and whole[0, 1, 7] == 1.0 and whole.sum() == 2.0


def _ellipse(lean: float, centre_x: int = 70, ear: bool = False) -> np.ndarray:
    face = np.zeros((200, 180), np.float32)
    cv2.ellipse(face, (centre_x, 100), (40, 70), lean, 0, 360, 1.0, -1)
    if ear:
        face[90:120, centre_x + 38 : centre_x + 52] = 1.0  # one ear: the box centre moves
    return face


@pytest.mark.parametrize("lean", [-12.0, 0.0, 8.0])
def test_faces_are_turned_upright_and_centred_on_their_midline(lean: float) -> None:
    face = _ellipse(lean)
    assert face_tilt(face) == pytest.approx(lean, abs=0.5)
    picture = np.repeat(face[:, :, None], 3, axis=2)
    upright, mask = align_on_midline(picture, face, np.zeros(3, np.float32))
    assert abs(face_tilt(mask)) < 0.5
    assert face_midline(mask, mask.shape[1]) == pytest.approx(mask.shape[1] / 2, abs=1.0)
    assert upright.shape[:2] == mask.shape


def test_the_midline_is_the_axis_of_symmetry_not_the_box_centre() -> None:
    face = _ellipse(0.0, ear=True)
    columns = np.flatnonzero(face.any(axis=0))
    box_centre = (columns[0] + columns[-1] + 1) / 2
    assert abs(box_centre - 70.5) > 4
    assert face_midline(face, face.shape[1]) == pytest.approx(70.5, abs=1.0)
    assert face_midline(None, 40) == 20


def test_midline_augmentation_keeps_a_symmetric_face_symmetric() -> None:
    torch.manual_seed(0)
    half = torch.randint(0, 255, (3, 32, 16), dtype=torch.uint8)
    face = torch.cat([half, half.flip(-1)], dim=-1)
    augment = AugmentConfig(crop_scale=(0.6, 0.9), rotation_degrees=10.0, blur_p=0.0)
    transform = train_transform(32, augment, [0.0] * 3, [1.0] * 3, keep_midline=True)
    for _ in range(5):
        view = transform(face)
        # only the noise differs between the halves
        assert (view - view.flip(-1)).abs().mean() < 0.05
        cropped = MidlineCrop(32, (0.5, 0.5), (1.0, 1.0))(face.float())
        torch.testing.assert_close(cropped, cropped.flip(-1))
    flipped = train_transform(32, STILL, [0.0] * 3, [1.0] * 3, keep_midline=True)(face)
    torch.testing.assert_close(flipped, face.float() / 255)


def test_dataset_serves_whole_faces_centred_on_their_midline(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 6, "non_icas": 12}, size=24)
    data = thermal_data(
        tmp_path,
        data_dir=str(root),
        mask=Masking(ContentBasedMask()),
        asymmetry=Asymmetry(),
    )
    data.setup()
    assert data.dataset("train", train=True)[0]["image"].shape == (3, 16, 16)
    face = data.faces[0].float()
    mass = face.sum(0)
    centre = float((mass * (torch.arange(16) + 0.5)).sum() / mass.sum())
    assert centre == pytest.approx(8.0, abs=1.0)


def test_side_scores_blame_the_cooler_side_where_the_map_looks() -> None:
    faces = torch.zeros(2, 3, 16, 16)
    faces[0, :, 2:6, 1:5] = -1.0  # image-left upper face cooler
    faces[1, :, 2:6, 11:15] = -1.0  # image-right
    faces[:, :, 12:, :4] = 5.0  # a hot spot the map ignores
    looks = torch.zeros(2, 16, 16)
    looks[:, 2:6] = 1.0
    scores = side_scores(faces, looks)
    assert scores[0] > 0 > scores[1]


def test_side_accuracy_against_the_manifest(tmp_path: Path) -> None:
    images = [tmp_path / "icas" / f"P{k}_1.jpg" for k in range(4)]
    manifest = {
        "images": [
            {"file": f"icas/P{k}_1.jpg", "signal_side": s}
            for k, s in enumerate(["left", "right", "left", None])
        ]
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    values = side_metrics(
        [str(p) for p in images], ["P0", "P1", "P2", "P3"], [True] * 4, [0.3, -0.2, -0.1, 0.5]
    )
    assert values == {"test/asymmetry/side_accuracy": 2 / 3, "test/asymmetry/side_n": 3.0}
    assert side_metrics([str(images[0])], ["P0"], [False], [0.1]) == {}
