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
    image_size: int, augment: AugmentConfig, mean: Sequence[float], std: Sequence[float]
) -> nn.Module:
    """Augmentation for uint8 CxHxW tensors that are already masked and resized."""
    steps: list[nn.Module] = [
        to_float(),
        v2.RandomResizedCrop(image_size, scale=augment.crop_scale, ratio=(0.9, 1.1)),
        v2.RandomHorizontalFlip(augment.hflip_p),
        v2.RandomRotation(augment.rotation_degrees),
        IntensityJitter(augment.contrast, augment.offset),
        v2.RandomApply([v2.GaussianBlur(5, sigma=augment.blur_sigma)], p=augment.blur_p),
        GaussianNoise(augment.noise_std),
        v2.Normalize(mean, std),
    ]
    return v2.Compose(steps)


def eval_transform(mean: Sequence[float], std: Sequence[float]) -> nn.Module:
    return v2.Compose([to_float(), v2.Normalize(mean, std)])
