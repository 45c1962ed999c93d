"""The training augmentation applied to a whole batch on its device, for GPU training.

Per-image augmentation in loader processes cannot keep up with a GPU that trains a small
ResNet on small images; here the loader only ships cached uint8 images and the same random
transformations as `transforms.train_transform` run batched where the model runs: a random
resized crop, flip and rotation composed into one affine resampling per image, then a shared
contrast/offset, Gaussian blur and noise, each drawn independently per image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from thermal_icas.data.asymmetry import SplitHalves
from thermal_icas.data.transforms import AugmentConfig

BLUR_KERNEL = 5


class BatchAugment(nn.Module):
    """uint8 (B, 3, S, S) -> normalised float (B, C, S, W): C=3, W=S, or C=6, W=S/2 (halves)."""

    def __init__(
        self,
        image_size: int,
        augment: AugmentConfig,
        mean: Sequence[float],
        std: Sequence[float],
        halves: SplitHalves | None = None,
    ) -> None:
        super().__init__()
        self.size = (image_size, image_size // 2 if halves else image_size)
        self.augment = augment
        self.halves = halves
        repeat = 2 if halves is not None else 1
        self.register_buffer(
            "mean", torch.tensor(list(mean) * repeat).view(1, -1, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(list(std) * repeat).view(1, -1, 1, 1), persistent=False
        )

    def forward(self, images: Tensor) -> Tensor:
        x = images.float() / 255.0
        flip = torch.rand(x.shape[0], device=x.device) < self.augment.hflip_p
        if self.halves is not None:
            # the whole face is flipped before the split; the halves then move together
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
            x = self.halves(x)
            flip = torch.zeros_like(flip)
        x = self._crop_flip_rotate(x, flip)
        x = self._intensity(x)
        x = self._blur(x)
        x = x + torch.randn_like(x) * self.augment.noise_std
        return (x - self.mean) / self.std

    def _crop_flip_rotate(self, x: Tensor, flip: Tensor) -> Tensor:
        """One bilinear resampling per image; outside the image is 0, as in torchvision."""
        batch, device = x.shape[0], x.device
        in_h, in_w = x.shape[-2:]
        out_h, out_w = self.size
        low, high = self.augment.crop_scale
        area = (low + (high - low) * torch.rand(batch, device=device)) * in_h * in_w
        aspect = out_w / out_h
        log_ratio = torch.empty(batch, device=device).uniform_(
            math.log(0.9 * aspect), math.log(1.1 * aspect)
        )
        ratio = log_ratio.exp()
        crop_w = (area * ratio).sqrt() / in_w  # share of the input width
        crop_h = (area / ratio).sqrt() / in_h
        # a crop that does not fit becomes the whole image, as torchvision's fallback does
        fits = (crop_w <= 1) & (crop_h <= 1)
        crop_w = torch.where(fits, crop_w, torch.ones_like(crop_w))
        crop_h = torch.where(fits, crop_h, torch.ones_like(crop_h))
        centre_x = (1 - crop_w) * (2 * torch.rand(batch, device=device) - 1)
        centre_y = (1 - crop_h) * (2 * torch.rand(batch, device=device) - 1)
        angle = torch.deg2rad(
            (2 * torch.rand(batch, device=device) - 1) * self.augment.rotation_degrees
        )
        cos, sin = angle.cos(), angle.sin()
        sign = 1.0 - 2.0 * flip.float()
        theta = torch.stack(
            [
                torch.stack(
                    [sign * crop_w * cos, sign * crop_w * sin * out_h / out_w, centre_x], 1
                ),
                torch.stack([-crop_h * sin * out_w / out_h, crop_h * cos, centre_y], 1),
            ],
            dim=1,
        )
        grid = F.affine_grid(theta, [batch, x.shape[1], out_h, out_w], align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _intensity(self, x: Tensor) -> Tensor:
        shape = (x.shape[0], 1, 1, 1)
        factor = 1.0 + (2 * torch.rand(shape, device=x.device) - 1) * self.augment.contrast
        shift = (2 * torch.rand(shape, device=x.device) - 1) * self.augment.offset
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) * factor + mean + shift

    def _blur(self, x: Tensor) -> Tensor:
        """Separable Gaussian blur with a per-image sigma; unblurred images get the identity."""
        batch, channels, height, width = x.shape
        low, high = self.augment.blur_sigma
        sigma = low + (high - low) * torch.rand(batch, 1, device=x.device)
        offsets = torch.arange(BLUR_KERNEL, device=x.device) - BLUR_KERNEL // 2
        kernel = torch.exp(-(offsets.float() ** 2) / (2 * sigma**2))
        kernel = kernel / kernel.sum(1, keepdim=True)
        identity = (offsets == 0).float().expand_as(kernel)
        blurred = torch.rand(batch, 1, device=x.device) < self.augment.blur_p
        kernel = torch.where(blurred, kernel, identity).repeat_interleave(channels, 0)
        pad = BLUR_KERNEL // 2
        y = x.reshape(1, batch * channels, height, width)
        y = F.conv2d(
            F.pad(y, (pad, pad, 0, 0), mode="reflect"),
            kernel.view(-1, 1, 1, BLUR_KERNEL),
            groups=batch * channels,
        )
        y = F.conv2d(
            F.pad(y, (0, 0, pad, pad), mode="reflect"),
            kernel.view(-1, 1, BLUR_KERNEL, 1),
            groups=batch * channels,
        )
        return y.view(batch, channels, height, width)
