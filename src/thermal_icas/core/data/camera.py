"""What another thermal camera does to the same face: resolution, response curve, gain, noise
and its fixed pattern, optics blur, vignetting and the level a segmentation leaves behind.

One model serves two uses. `CameraShift` with fixed settings renders a benchmark's faces as a
second camera would (`scripts/make_camera_shift.py`: train on camera A, test on camera B).
`CameraJitter` draws fresh settings per training image (`data.augment.camera`), so a model
meets many cameras and learns the face rather than the one it was trained on. Both work on
float images in [0, 1], (C, H, W) or a batch (B, C, H, W), and change every channel alike:
no hue shifts, so a palette-inverted (one temperature channel) image stays one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.transforms.v2 import functional as TF

# what counts as face in a masked crop: any channel above this (background is black)
FACE_LEVEL = 1.5 / 255


@dataclass(frozen=True)
class CameraShift:
    """One camera's rendering of a face. `scale`: the sensor's resolution against the source
    (down-sampled, then back up to the same size); `gamma` and `contrast` (about the face's
    mean): its response and gain; `noise`: temporal noise sd; `stripes`: the sd of per-column
    offsets (a microbolometer's fixed pattern, the same in every image of the camera, drawn
    from `pattern_seed`); `blur`: optics, Gaussian sigma in pixels; `vignette`: how much
    darker the corners are; `background`: the level left around the face (0-1)."""

    scale: float = 1.0
    gamma: float = 1.0
    contrast: float = 1.0
    noise: float = 0.0
    stripes: float = 0.0
    blur: float = 0.0
    vignette: float = 0.0
    background: float = 0.0
    pattern_seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.scale <= 1 or self.gamma <= 0 or self.contrast <= 0:
            raise ValueError("camera: scale must lie in (0, 1], gamma and contrast above 0")
        if min(self.noise, self.stripes, self.blur, self.vignette, self.background) < 0:
            raise ValueError("camera: noise, stripes, blur, vignette and background are >= 0")

    def __call__(self, image: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """The face (pixels above FACE_LEVEL) as this camera shows it, background at its level;
        `generator` draws the temporal noise."""
        face = image.amax(dim=-3, keepdim=True) > FACE_LEVEL
        pattern = torch.Generator().manual_seed(self.pattern_seed)
        x = render(image, face, self, column_offsets(image, self.stripes, pattern), generator)
        return torch.where(face, x, torch.full_like(x, self.background))


def column_offsets(image: Tensor, sd: float, generator: torch.Generator | None) -> Tensor:
    """One offset per column (and image of a batch), shared by every row and channel."""
    shape = (*image.shape[:-3], 1, 1, image.shape[-1])
    return torch.randn(shape, generator=generator).to(image) * sd


def render(
    image: Tensor,
    face: Tensor,
    camera: CameraShift,
    offsets: Tensor,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The camera's chain on the face pixels, in the order light meets it: optics (blur,
    vignetting), sensor (resolution, response, gain), read-out (fixed pattern, noise)."""
    x = image
    if camera.blur > 0:
        kernel = 2 * round(3 * camera.blur) + 1
        x = TF.gaussian_blur(x, [kernel, kernel], [camera.blur, camera.blur])
    if camera.vignette > 0:
        x = x * (1 - camera.vignette * _radius2(x))
    if camera.scale < 1:
        x = _resample(x, camera.scale)
    x = x.clamp(0, 1) ** camera.gamma
    mean = _face_mean(x, face)
    x = (x - mean) * camera.contrast + mean + offsets
    if camera.noise > 0:
        # one reading per pixel, shared by the channels a palette spreads it over
        shape = (*x.shape[:-3], 1, *x.shape[-2:])
        x = x + torch.randn(shape, generator=generator).to(x) * camera.noise
    return x.clamp(0, 1)


def _radius2(image: Tensor) -> Tensor:
    """Squared distance from the image centre, 1 at the corners."""
    height, width = image.shape[-2:]
    y = torch.linspace(-1, 1, height, device=image.device)[:, None]
    x = torch.linspace(-1, 1, width, device=image.device)[None, :]
    return (x**2 + y**2) / 2


def _resample(image: Tensor, scale: float) -> Tensor:
    """Down to `scale` of the size (area average, as a coarser sensor sees it), then back."""
    batch = image if image.dim() == 4 else image[None]
    size = batch.shape[-2:]
    small = [max(1, round(side * scale)) for side in size]
    out = F.interpolate(batch, size=small, mode="area")
    out = F.interpolate(out, size=tuple(size), mode="bilinear", align_corners=False)
    return out if image.dim() == 4 else out[0]


def _face_mean(image: Tensor, face: Tensor) -> Tensor:
    """Each image's mean over its face pixels (all channels), for a gain about it."""
    weights = face.expand_as(image).to(image)
    dims = (-3, -2, -1)
    return (image * weights).sum(dims, keepdim=True) / weights.sum(dims, keepdim=True).clamp(min=1)


@dataclass(frozen=True)
class CameraRanges:
    """The spread of cameras `CameraJitter` draws from: each setting uniformly between its
    identity and the bound given (gamma and contrast on both sides of 1, by a factor)."""

    scale: float = 0.5
    gamma: float = 1.4
    contrast: float = 1.25
    noise: float = 0.03
    stripes: float = 0.02
    blur: float = 1.0
    vignette: float = 0.2


class CameraJitter(nn.Module):
    """Another camera per image and call (training augmentation), the face kept where it was
    and the background left as it came. Applies to float images in [0, 1]."""

    def __init__(self, ranges: CameraRanges = CameraRanges()) -> None:
        super().__init__()
        self.ranges = ranges

    def forward(self, image: Tensor) -> Tensor:
        if image.dim() == 4:
            return torch.stack([self(one) for one in image])
        face = image.amax(dim=0, keepdim=True) > FACE_LEVEL
        camera = self.draw()
        x = render(image, face, camera, column_offsets(image, camera.stripes, None))
        return torch.where(face, x, image)

    def draw(self) -> CameraShift:
        r = self.ranges
        u = torch.rand(7).tolist()

        def spread(factor: float, draw: float) -> float:
            return float(factor ** (2 * draw - 1))

        return CameraShift(
            scale=1 - (1 - r.scale) * u[0],
            gamma=spread(r.gamma, u[1]),
            contrast=spread(r.contrast, u[2]),
            noise=r.noise * u[3],
            stripes=r.stripes * u[4],
            blur=r.blur * u[5],
            vignette=r.vignette * u[6],
        )
