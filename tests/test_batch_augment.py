"""Batched augmentation on the training device: the same transformations as per image."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from tests.conftest import ComposeFn
from tests.test_asymmetry import STILL as STILL_FLIPPED
from thermal_icas.data.asymmetry import SplitHalves
from thermal_icas.data.batch_augment import BatchAugment
from thermal_icas.data.transforms import AugmentConfig, eval_transform
from thermal_icas.pipeline import run

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
# no randomness at all (the asymmetry tests' still config flips every image)
STILL = replace(STILL_FLIPPED, hflip_p=0.0)


def _faces(batch: int = 4, size: int = 16) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8)


def _eval(images: torch.Tensor, halves: SplitHalves | None = None) -> torch.Tensor:
    transform = eval_transform(MEAN, STD, halves)
    return torch.stack([transform(image) for image in images])


def test_without_randomness_it_is_the_evaluation_transform() -> None:
    images = _faces()
    for halves in (None, SplitHalves("mirror"), SplitHalves("translate")):
        out = BatchAugment(16, STILL, MEAN, STD, halves)(images)
        torch.testing.assert_close(out, _eval(images, halves), atol=1e-5, rtol=0)


def test_flip_mirrors_the_face_and_in_asymmetry_mode_swaps_the_halves() -> None:
    images = _faces()
    flip = replace(STILL, hflip_p=1.0)
    out = BatchAugment(16, flip, MEAN, STD)(images)
    torch.testing.assert_close(out, _eval(images.flip(-1)), atol=1e-5, rtol=0)
    halves = SplitHalves("mirror")
    out = BatchAugment(16, flip, MEAN, STD, halves)(images)
    unflipped = _eval(images, halves)
    torch.testing.assert_close(out[:, :3], unflipped[:, 3:], atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, 3:], unflipped[:, :3], atol=1e-5, rtol=0)


def test_both_halves_get_the_same_geometry_and_each_image_its_own() -> None:
    left = _faces(1)[..., :8]
    symmetric = torch.cat([left, left.flip(-1)], dim=-1).expand(6, -1, -1, -1)
    moving = replace(AugmentConfig(), noise_std=0.0)
    torch.manual_seed(1)
    out = BatchAugment(16, moving, MEAN, STD, SplitHalves("mirror"))(symmetric)
    assert out.shape == (6, 6, 16, 8)
    torch.testing.assert_close(out[:, :3], out[:, 3:])
    assert not torch.allclose(out[0], out[1]), "identical inputs must get different draws"


def test_statistics_match_the_per_image_augmentation() -> None:
    from thermal_icas.data.transforms import train_transform

    # smooth images, like faces (white noise would measure the interpolation instead)
    coarse = _faces(64, 4).float()
    images = torch.nn.functional.interpolate(coarse, size=32, mode="bilinear").to(torch.uint8)
    torch.manual_seed(0)
    batched = BatchAugment(32, AugmentConfig(), MEAN, STD)(images)
    per_image = torch.stack(
        [train_transform(32, AugmentConfig(), MEAN, STD)(image) for image in images]
    )
    assert batched.shape == per_image.shape
    assert abs(batched.mean() - per_image.mean()) < 0.05
    assert abs(batched.std() - per_image.std()) < 0.05


def test_a_run_can_augment_on_the_device(compose_cfg: ComposeFn) -> None:
    cfg = compose_cfg(["experiment=smoke", "data.augment_on=device", "debug=fast"])
    run(cfg)
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert 0.0 <= saved["test/auroc"] <= 1.0
