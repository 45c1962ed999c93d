"""The training augmentation applied to a whole batch on its device, for GPU training.

Per-image augmentation in loader processes cannot keep up with a GPU that trains a small
ResNet on small images; here the cached uint8 images are already on the device
(`device_batches.DeviceBatches`) and the same random transformations as
`transforms.train_transform` run batched where the model runs: a random resized crop, flip and
rotation composed into one affine resampling per image, then a shared contrast/offset,
Gaussian blur and noise, each drawn independently per image.

Such a step is bound by the host's time to launch kernels, not by the GPU's arithmetic, so
the work is arranged for few launches: the per-image parameters (a few dozen numbers each)
are computed on the host and copied in one transfer, and contrast, offset and normalisation
fold into one multiply-add after the blur (blurring with a kernel that sums to 1 commutes
with a per-image affine change of intensity). About a dozen kernels run per batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from thermal_icas.core.data.camera import CameraJitter
from thermal_icas.core.data.transforms import AugmentConfig

BLUR_KERNEL = 5
# uniform draws per image: flip, crop area, aspect, centre x, centre y, angle, contrast,
# offset, blur sigma, blur or not
DRAWS = 10


class BatchAugment(nn.Module):
    """uint8 (B, 3, S, S) -> normalised float (B, 3, S, S).

    With `keep_midline` (the asymmetry arms) the crop stays centred on the face's midline and
    nothing rotates, as in `transforms.train_transform`. On a CUDA device the output is
    channels-last, the layout the model runs in there.
    """

    def __init__(
        self,
        image_size: int,
        augment: AugmentConfig,
        mean: Sequence[float],
        std: Sequence[float],
        keep_midline: bool = False,
    ) -> None:
        super().__init__()
        self.size = (image_size, image_size)
        self.augment = augment
        self.keep_midline = keep_midline
        # image by image (a few kernels each): the one step here not batched
        self.cameras = CameraJitter() if augment.camera else None
        self.mean = np.array(list(mean))
        self.inv_std = 1.0 / np.array(list(std))
        noise_scale = torch.tensor(augment.noise_std * self.inv_std, dtype=torch.float32)
        self.register_buffer("noise_scale", noise_scale.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("base_grid", _base_grid(*self.size), persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        batch, device = images.shape[0], images.device
        height, width = images.shape[-2:]
        params = self._draw(batch, (height, width))
        if device.type == "cuda":
            params = params.pin_memory()
        theta, gain, const, mean_gain, kernel = _unpack(
            params.to(device, non_blocking=True), batch, len(self.mean)
        )
        x = images.float()
        grid = torch.matmul(self.base_grid, theta.transpose(1, 2))
        x = F.grid_sample(x, grid.view(batch, *self.size, 2), mode="bilinear", align_corners=False)
        if self.cameras is not None:
            x = self.cameras(x / 255) * 255
        bias = torch.addcmul(const, mean_gain, x.mean(dim=(1, 2, 3), keepdim=True))
        x = self._blur(x, kernel)
        layout = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        out = torch.empty_like(x, memory_format=layout)
        torch.addcmul(bias, x, gain, out=out)
        if self.augment.noise_std > 0:
            out.addcmul_(torch.randn_like(out), self.noise_scale)
        return out

    def _draw(self, batch: int, in_size: tuple[int, int]) -> Tensor:
        """The per-image parameters, packed into one float32 tensor for a single copy.

        Drawn from torch's CPU generator, so seeding and resuming cover them; the arithmetic
        on these few numbers is numpy's, which costs the host less than torch's dispatch.
        """
        a = self.augment
        u = torch.rand(batch, DRAWS, dtype=torch.float64).numpy()
        in_h, in_w = in_size
        out_h, out_w = self.size
        flip = u[:, 0] < a.hflip_p
        area = (a.crop_scale[0] + (a.crop_scale[1] - a.crop_scale[0]) * u[:, 1]) * in_h * in_w
        aspect = out_w / out_h
        low, high = math.log(0.9 * aspect), math.log(1.1 * aspect)
        ratio = np.exp(low + (high - low) * u[:, 2])
        crop_w = np.sqrt(area * ratio) / in_w  # share of the input width
        crop_h = np.sqrt(area / ratio) / in_h
        # a crop that does not fit becomes the whole image, as torchvision's fallback does
        fits = (crop_w <= 1) & (crop_h <= 1)
        crop_w = np.where(fits, crop_w, 1.0)
        crop_h = np.where(fits, crop_h, 1.0)
        centre_x = (1 - crop_w) * (2 * u[:, 3] - 1) * (not self.keep_midline)
        centre_y = (1 - crop_h) * (2 * u[:, 4] - 1)
        degrees = 0.0 if self.keep_midline else a.rotation_degrees
        angle = np.deg2rad((2 * u[:, 5] - 1) * degrees)
        cos, sin = np.cos(angle), np.sin(angle)
        sign = np.where(flip, -1.0, 1.0)
        theta = np.stack(
            [
                sign * crop_w * cos,
                sign * crop_w * sin * out_h / out_w,
                centre_x,
                -crop_h * sin * out_w / out_h,
                crop_h * cos,
                centre_y,
            ],
            axis=1,
        )
        # contrast about the image mean, offset and normalisation as out = gain * x + bias,
        # with bias = const + mean_gain * mean(x), on x in uint8 units
        factor = 1 + (2 * u[:, 6] - 1) * a.contrast
        shift = (2 * u[:, 7] - 1) * a.offset
        gain = factor[:, None] / 255 * self.inv_std
        mean_gain = (1 - factor[:, None]) / 255 * self.inv_std
        const = (shift[:, None] - self.mean) * self.inv_std
        sigma = a.blur_sigma[0] + (a.blur_sigma[1] - a.blur_sigma[0]) * u[:, 8:9]
        offsets = np.arange(BLUR_KERNEL) - BLUR_KERNEL // 2
        gaussian = np.exp(-(offsets**2) / (2 * sigma**2))
        gaussian /= gaussian.sum(1, keepdims=True)
        # unblurred images get the identity kernel
        kernel = np.where(u[:, 9:10] < a.blur_p, gaussian, (offsets == 0).astype(float))
        kernel_2d = (kernel[:, :, None] * kernel[:, None, :]).reshape(batch, -1)
        packed = np.concatenate(
            [theta, gain, const, mean_gain, kernel_2d], axis=1, dtype=np.float32
        )
        return torch.from_numpy(packed)

    @staticmethod
    def _blur(x: Tensor, kernel: Tensor) -> Tensor:
        """Gaussian blur with each image's own kernel, as one grouped 2-D convolution."""
        batch, channels, height, width = x.shape
        weight = kernel[:, None].expand(-1, channels, -1).reshape(-1, 1, BLUR_KERNEL, BLUR_KERNEL)
        pad = BLUR_KERNEL // 2
        y = F.pad(x.view(1, batch * channels, height, width), (pad,) * 4, mode="reflect")
        return F.conv2d(y, weight, groups=batch * channels).view(batch, channels, height, width)


def _unpack(params: Tensor, batch: int, channels: int) -> tuple[Tensor, ...]:
    """Views of the packed parameters: theta (B,2,3), gain, const, mean_gain (B,C,1,1),
    blur kernel (B, k*k)."""
    sizes = [6, channels, channels, channels, BLUR_KERNEL**2]
    theta, gain, const, mean_gain, kernel = params.split(sizes, dim=1)
    per_channel = (batch, channels, 1, 1)
    return (
        theta.view(batch, 2, 3),
        gain.reshape(per_channel),
        const.reshape(per_channel),
        mean_gain.reshape(per_channel),
        kernel,
    )


def _base_grid(height: int, width: int) -> Tensor:
    """(H*W, 3) rows (x, y, 1) of pixel centres in [-1, 1]: `affine_grid`'s base grid, built
    once so each batch's sampling grid is a single matrix product."""
    xs = (2 * torch.arange(width) + 1) / width - 1
    ys = (2 * torch.arange(height) + 1) / height - 1
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y, torch.ones_like(grid_x)], dim=-1).view(-1, 3).float()
