"""The 6-channel left/right input: midline, alignment, augmentation and first-layer init."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import models

from tests.conftest import make_toy_dataset
from tests.test_data import _thermal_data
from thermal_icas.data.asymmetry import SplitHalves, centre_on_midline, face_midline
from thermal_icas.data.transforms import AugmentConfig, train_transform
from thermal_icas.masks import ContentBasedMask, Masking
from thermal_icas.models import ThermalEncoder
from thermal_icas.models.backbone import widen_first_conv
from thermal_icas.models.checkpoint import load_encoder, save_encoder

STILL = AugmentConfig(
    crop_scale=(1.0, 1.0),
    rotation_degrees=0.0,
    hflip_p=1.0,
    contrast=0.0,
    offset=0.0,
    blur_p=0.0,
    noise_std=0.0,
)


def test_six_channel_first_layer_from_three_channel_weights_keeps_the_response() -> None:
    torch.manual_seed(0)
    resnet = models.resnet18(weights=None).eval()
    x = torch.randn(2, 3, 64, 64)
    reference = resnet.conv1(x)
    wide = widen_first_conv(resnet.conv1, 6)
    torch.testing.assert_close(wide(torch.cat([x, x], dim=1)), reference)
    with pytest.raises(ValueError, match="multiple of 3"):
        widen_first_conv(resnet.conv1, 4)


def test_six_channel_encoder_equals_three_channel_encoder_on_equal_halves(tmp_path: Path) -> None:
    torch.manual_seed(0)
    torch.save(models.resnet18(weights=None).state_dict(), tmp_path / "w.pth")
    narrow = ThermalEncoder(pretrained=str(tmp_path / "w.pth")).eval()
    wide = ThermalEncoder(pretrained=str(tmp_path / "w.pth"), in_channels=6).eval()
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        torch.testing.assert_close(wide(torch.cat([x, x], dim=1)), narrow(x))

    save_encoder(wide, tmp_path / "enc.pt")
    reloaded = ThermalEncoder(in_channels=6).eval()
    load_encoder(reloaded, tmp_path / "enc.pt")
    torch.testing.assert_close(reloaded.trunk[0].weight, wide.trunk[0].weight)


def test_mirrored_halves_of_a_symmetric_face_are_identical() -> None:
    ramp = torch.linspace(0, 1, 8)
    symmetric = torch.cat([ramp, ramp.flip(0)]).expand(3, 5, 16)
    mirrored = SplitHalves("mirror")(symmetric)
    assert mirrored.shape == (6, 5, 8)
    torch.testing.assert_close(mirrored[:3], mirrored[3:])
    translated = SplitHalves("translate")(symmetric)
    torch.testing.assert_close(translated[3:], mirrored[3:].flip(-1))
    assert not torch.equal(translated[:3], translated[3:])
    with pytest.raises(ValueError, match=r"asymmetry\.align='tilt'"):
        SplitHalves("tilt")


def test_face_is_centred_on_its_own_midline() -> None:
    image = np.zeros((20, 40, 3), np.float32)
    image[4:16, 22:34] = 0.8  # face spans columns 22..33: midline at 28
    mask = image[:, :, 0] > 0.5
    assert face_midline(mask, 40) == 28
    assert face_midline(None, 40) == 20
    centred = centre_on_midline(image, 28.0, np.zeros(3, np.float32))
    assert centred.shape == (20, 56, 3)
    assert face_midline(centred[:, :, 0], centred.shape[1]) == centred.shape[1] / 2


def test_flip_mirrors_the_whole_face_before_the_split() -> None:
    torch.manual_seed(0)
    face = torch.randint(0, 255, (3, 16, 16), dtype=torch.uint8)
    halves = SplitHalves("mirror")
    flipped = train_transform(16, STILL, [0.0] * 3, [1.0] * 3, halves)(face)
    unflipped = halves(face.float() / 255)
    assert flipped.shape == (6, 16, 8)
    # mirroring the whole face swaps the mirrored halves
    torch.testing.assert_close(flipped[:3], unflipped[3:])
    torch.testing.assert_close(flipped[3:], unflipped[:3])


def test_dataset_serves_six_channel_halves_centred_on_the_face(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 6, "non_icas": 12}, size=24)
    data = _thermal_data(
        tmp_path,
        data_dir=str(root),
        mask=Masking(ContentBasedMask()),
        asymmetry={"enabled": True, "align": "mirror"},
    )
    data.setup()
    sample = data.dataset("train", train=True)[0]["image"]
    assert sample.shape == (6, 16, 8)
    views = data.dataset("val", train=False, views=2)[0]["views"]
    assert all(view.shape == (6, 16, 8) for view in views)
