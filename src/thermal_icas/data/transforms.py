"""Thermal-safe augmentations: geometry and intensity only, never hue or saturation.

Hue jitter on a pseudo-colour image would remap temperatures, so the only photometric changes
are a shared contrast/offset on all channels, blur and sensor-like noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchvision.transforms import v2

from thermal_icas.data.asymmetry import SplitHalves


@dataclass(frozen=True)
class AugmentConfig:
    crop_scale: tuple[float, float] = (0.8, 1.0)
    rotation_degrees: float = 10.0
    hflip_p: float = 0.5
    contrast: float = 0.2
    offset: float = 0.05
    blur_p: float = 0.3
    blur_sigma: tuple[float, float] = (0.1, 1.0)
    noise_std: float = 0.02


class IntensityJitter(nn.Module):
    """Scale contrast about the image mean and add an offset, identically on every channel."""

    def __init__(self, contrast: float, offset: float) -> None:
        super().__init__()
        self.contrast = contrast
        self.offset = offset

    def forward(self, image: Tensor) -> Tensor:
        factor = 1.0 + (torch.rand(()) * 2 - 1) * self.contrast
        shift = (torch.rand(()) * 2 - 1) * self.offset
        mean = image.mean()
        return (image - mean) * factor + mean + shift


class GaussianNoise(nn.Module):
    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std

    def forward(self, image: Tensor) -> Tensor:
        return image + torch.randn_like(image) * self.std


def to_float() -> v2.Transform:
    return v2.ToDtype(torch.float32, scale=True)


def train_transform(
    image_size: int,
    augment: AugmentConfig,
    mean: Sequence[float],
    std: Sequence[float],
    halves: SplitHalves | None = None,
) -> nn.Module:
    """Augmentation for uint8 CxHxW tensors that are already masked and resized.

    With `halves` the whole face is flipped before it is split, and the geometric and
    photometric changes after the split act on both halves at once, identically.
    """
    height, width = image_size, image_size // 2 if halves else image_size
    aspect = width / height
    crop = v2.RandomResizedCrop(
        (height, width), scale=augment.crop_scale, ratio=(0.9 * aspect, 1.1 * aspect)
    )
    flip = v2.RandomHorizontalFlip(augment.hflip_p)
    geometry = [crop, flip] if halves is None else [flip, halves, crop]
    steps: list[nn.Module] = [
        to_float(),
        *geometry,
        v2.RandomRotation(augment.rotation_degrees),
        IntensityJitter(augment.contrast, augment.offset),
        v2.RandomApply([v2.GaussianBlur(5, sigma=augment.blur_sigma)], p=augment.blur_p),
        GaussianNoise(augment.noise_std),
        _normalize(mean, std, halves),
    ]
    return v2.Compose(steps)


def eval_transform(
    mean: Sequence[float], std: Sequence[float], halves: SplitHalves | None = None
) -> nn.Module:
    steps = [to_float(), *([halves] if halves is not None else []), _normalize(mean, std, halves)]
    return v2.Compose(steps)


def _normalize(
    mean: Sequence[float], std: Sequence[float], halves: SplitHalves | None
) -> v2.Normalize:
    repeat = 2 if halves is not None else 1
    return v2.Normalize(list(mean) * repeat, list(std) * repeat)
