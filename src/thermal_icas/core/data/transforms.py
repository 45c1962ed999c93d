"""Thermal-safe augmentations: geometry and intensity only, never hue or saturation.

Hue jitter on a pseudo-colour image would remap temperatures, so the only photometric changes
are a shared contrast/offset on all channels, blur and sensor-like noise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torchvision.transforms import v2

from thermal_icas.core.data.camera import CameraJitter
from thermal_icas.core.ranges import (
    NON_NEGATIVE,
    PROBABILITY,
    Range,
    check_ranges,
    is_number,
    require,
)


@dataclass(frozen=True)
class AugmentConfig:
    """`data.augment`: what each training image may go through. Checks its values as it is
    made; `check` runs the same test on the config node before a run starts."""

    RANGES: ClassVar[Mapping[str, Range]] = {
        "rotation_degrees": (lambda v: 0 <= v <= 180, "degrees in [0, 180]"),
        "hflip_p": PROBABILITY,
        "blur_p": PROBABILITY,
        "contrast": (lambda v: 0 <= v < 1, "a number in [0, 1)"),
        "offset": NON_NEGATIVE,
        "offset_celsius": NON_NEGATIVE,
        "noise_std": NON_NEGATIVE,
    }
    # (low, high) pairs: crop_scale a share of the image, blur_sigma a width in pixels
    PAIRS: ClassVar[Mapping[str, float]] = {"crop_scale": 1.0, "blur_sigma": math.inf}

    crop_scale: tuple[float, float] = (0.8, 1.0)
    rotation_degrees: float = 10.0
    hflip_p: float = 0.5
    contrast: float = 0.2
    offset: float = 0.05
    blur_p: float = 0.3
    blur_sigma: tuple[float, float] = (0.1, 1.0)
    noise_std: float = 0.02
    # another camera per image (`camera.CameraJitter`)
    camera: bool = False
    # on temperature data (`for_temperatures`), the offset in deg C
    offset_celsius: float = 0.5

    def __post_init__(self) -> None:
        self.check(vars(self))

    def for_temperatures(self, span: float) -> AugmentConfig:
        """On images of one fixed temperature window (`span` deg C wide): no contrast change,
        which would stretch every difference in deg C, and an offset of up to
        `offset_celsius` (a warmer or cooler room, a camera's drift), which moves none."""
        return replace(self, contrast=0.0, offset=self.offset_celsius / span)

    @classmethod
    def check(cls, values: Mapping[str, Any], prefix: str = "data.augment.") -> None:
        check_ranges(values, prefix, cls.RANGES)
        camera = values.get("camera", False)
        require(f"{prefix}camera", camera, isinstance(camera, bool), "true or false")
        for name, top in cls.PAIRS.items():
            if name not in values:
                continue
            pair = list(values[name])
            ok = len(pair) == 2 and all(is_number(v) for v in pair) and 0 < pair[0] <= pair[1]
            bound = " <= 1" if top == 1 else ""
            require(
                f"{prefix}{name}",
                pair,
                ok and pair[1] <= top,
                f"[low, high] with 0 < low <= high{bound}",
            )


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


class MidlineCrop(nn.Module):
    """A random resized crop whose centre stays on the image's centre column.

    Faces of the asymmetry arms are centred on their midline, which the model splits them at;
    a crop centred anywhere else would move one half's anatomy against the other's.
    """

    def __init__(self, size: int, scale: tuple[float, float], ratio: tuple[float, float]):
        super().__init__()
        self.size = size
        self.scale = scale
        self.log_ratio = (math.log(ratio[0]), math.log(ratio[1]))

    def forward(self, image: Tensor) -> Tensor:
        height, width = image.shape[-2:]
        area = height * width * float(torch.empty(()).uniform_(*self.scale))
        ratio = math.exp(float(torch.empty(()).uniform_(*self.log_ratio)))
        crop_w = min(width, round(math.sqrt(area * ratio)))
        crop_h = min(height, round(math.sqrt(area / ratio)))
        # an even margin on both sides, so the centre column stays the centre column
        left = (width - crop_w) // 2
        crop_w = width - 2 * left
        top = int(torch.randint(0, height - crop_h + 1, ()))
        return v2.functional.resized_crop(
            image, top, left, crop_h, crop_w, [self.size, self.size], antialias=True
        )


def train_transform(
    image_size: int,
    augment: AugmentConfig,
    mean: Sequence[float],
    std: Sequence[float],
    keep_midline: bool = False,
) -> nn.Module:
    """Augmentation for uint8 CxHxW tensors that are already masked and resized.

    With `keep_midline` (the asymmetry arms) the face's midline stays the centre column: the
    crop is centred on it and there is no rotation (the faces were turned upright when they
    were preprocessed); a flip mirrors the face about its midline, which keeps it in place.
    """
    if keep_midline:
        geometry: list[nn.Module] = [
            MidlineCrop(image_size, augment.crop_scale, (0.9, 1.1)),
            v2.RandomHorizontalFlip(augment.hflip_p),
        ]
    else:
        geometry = [
            v2.RandomResizedCrop(image_size, scale=augment.crop_scale, ratio=(0.9, 1.1)),
            v2.RandomHorizontalFlip(augment.hflip_p),
            v2.RandomRotation(augment.rotation_degrees),
        ]
    cameras: list[nn.Module] = [CameraJitter()] if augment.camera else []
    steps: list[nn.Module] = [
        to_float(),
        *geometry,
        *cameras,
        IntensityJitter(augment.contrast, augment.offset),
        v2.RandomApply([v2.GaussianBlur(5, sigma=augment.blur_sigma)], p=augment.blur_p),
        GaussianNoise(augment.noise_std),
        v2.Normalize(list(mean), list(std)),
    ]
    return v2.Compose(steps)


def eval_transform(mean: Sequence[float], std: Sequence[float]) -> nn.Module:
    return v2.Compose([to_float(), v2.Normalize(list(mean), list(std))])
