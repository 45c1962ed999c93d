"""Batched augmentation on the training device: the same transformations as per image."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from tests.conftest import ComposeFn
from tests.test_asymmetry import STILL as STILL_FLIPPED
from thermal_icas.core.data.batch_augment import BatchAugment
from thermal_icas.core.data.transforms import AugmentConfig, eval_transform
from thermal_icas.train.pipeline import run

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
# no randomness at all (the asymmetry tests' still config flips every image)
STILL = replace(STILL_FLIPPED, hflip_p=0.0)


def _faces(batch: int = 4, size: int = 16) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)


def _eval(images: torch.Tensor) -> torch.Tensor:
    transform = eval_transform(MEAN, STD)
    return torch.stack([transform(image) for image in images])


@pytest.mark.parametrize("keep_midline", [False, True])
def test_without_randomness_it_is_the_evaluation_transform(keep_midline: bool) -> None:
    images = _faces()
    out = BatchAugment(16, STILL, MEAN, STD, keep_midline)(images)
    torch.testing.assert_close(out, _eval(images), atol=1e-5, rtol=0)


def test_flip_mirrors_the_face() -> None:
    images = _faces()
    flip = replace(STILL, hflip_p=1.0)
    for keep_midline in (False, True):
        out = BatchAugment(16, flip, MEAN, STD, keep_midline)(images)
        torch.testing.assert_close(out, _eval(images.flip(-1)), atol=1e-5, rtol=0)


def test_on_the_midline_a_symmetric_face_stays_symmetric_and_each_image_moves() -> None:
    left = _faces(1)[..., :8]
    symmetric = torch.cat([left, left.flip(-1)], dim=-1).expand(6, -1, -1, -1)
    moving = replace(AugmentConfig(), noise_std=0.0)
    torch.manual_seed(1)
    out = BatchAugment(16, moving, MEAN, STD, keep_midline=True)(symmetric)
    assert out.shape == (6, 3, 16, 16)
    torch.testing.assert_close(out, out.flip(-1), atol=1e-4, rtol=0)
    assert not torch.allclose(out[0], out[1]), "identical inputs must get different draws"
    torch.manual_seed(1)
    anywhere = BatchAugment(16, moving, MEAN, STD)(symmetric)
    assert not torch.allclose(anywhere, anywhere.flip(-1), atol=1e-2)


def test_the_crop_takes_its_share_of_the_image() -> None:
    """Half the area of the image: about 0.71 of its height and of its width."""
    ramp = torch.arange(32, dtype=torch.uint8) * 8
    images = torch.stack([ramp.expand(32, 32), ramp[:, None].expand(32, 32), ramp.expand(32, 32)])
    crop = replace(STILL, crop_scale=(0.5, 0.5))
    torch.manual_seed(0)
    out = BatchAugment(32, crop, [0.0] * 3, [1.0] * 3)(images.expand(64, -1, -1, -1))
    across = (out[:, 0].amax(dim=(1, 2)) - out[:, 0].amin(dim=(1, 2))) * 255 / 8 / 31
    down = (out[:, 1].amax(dim=(1, 2)) - out[:, 1].amin(dim=(1, 2))) * 255 / 8 / 31
    for share in (across, down):
        assert float(share.min()) > 0.6 and float(share.max()) < 0.8


def test_statistics_match_the_per_image_augmentation() -> None:
    from thermal_icas.core.data.transforms import train_transform

    # smooth faces on a black background, like the data (white noise would measure the
    # interpolation; content up to the corners would measure the per-image path's
    # crop-then-rotate, which fills corners with black where one resampling still finds face)
    coarse = _faces(128, 4).float()
    smooth = torch.nn.functional.interpolate(coarse, size=32, mode="bilinear")
    rows, cols = torch.meshgrid(torch.arange(32) - 15.5, torch.arange(32) - 15.5, indexing="ij")
    face = (rows**2 / 14**2 + cols**2 / 11**2 <= 1).float()
    images = (smooth * face).to(torch.uint8)
    torch.manual_seed(0)
    batched = BatchAugment(32, AugmentConfig(), MEAN, STD)(images)
    per_image = torch.stack(
        [train_transform(32, AugmentConfig(), MEAN, STD)(image) for image in images]
    )
    assert batched.shape == per_image.shape
    assert abs(batched.mean() - per_image.mean()) < 0.05
    assert abs(batched.std() - per_image.std()) < 0.05


@pytest.mark.slow
def test_a_run_can_augment_on_the_device(compose_cfg: ComposeFn) -> None:
    cfg = compose_cfg(["experiment=smoke", "data.augment_on=device", "debug=fast"])
    run(cfg)
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert 0.0 <= saved["test/auroc"] <= 1.0


def _unnormalize(x: torch.Tensor) -> torch.Tensor:
    return x * torch.tensor(STD).view(1, 3, 1, 1) + torch.tensor(MEAN).view(1, 3, 1, 1)


def test_contrast_and_offset_are_one_change_per_image_shared_by_its_channels() -> None:
    images = _faces(16)
    intensity = replace(STILL, contrast=0.2, offset=0.05)
    out = _unnormalize(BatchAugment(16, intensity, MEAN, STD)(images))
    x = images.float() / 255
    x_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    shift = out.mean(dim=(1, 2, 3), keepdim=True) - x_mean
    centred = x - x_mean
    factor = (centred * (out - x_mean - shift)).sum(dim=(1, 2, 3), keepdim=True) / (centred**2).sum(
        dim=(1, 2, 3), keepdim=True
    )
    torch.testing.assert_close(out, factor * centred + x_mean + shift, atol=1e-5, rtol=0)
    assert ((factor - 1).abs() <= 0.2 + 1e-6).all() and (shift.abs() <= 0.05 + 1e-6).all()
    assert factor.unique().numel() == 16, "each image draws its own contrast"


def test_blur_is_torchvision_gaussian_blur() -> None:
    from torchvision.transforms import v2

    images = _faces()
    blur = replace(STILL, blur_p=1.0, blur_sigma=(0.8, 0.8))
    out = _unnormalize(BatchAugment(16, blur, MEAN, STD)(images))
    expected = v2.GaussianBlur(5, sigma=0.8)(images.float() / 255)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
