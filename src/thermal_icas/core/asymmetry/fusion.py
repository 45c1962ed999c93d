"""Model input adapters: the whole face in, the trunk's input out, and the trunk's pooled
features back to one vector per face.

- `none`: the face as it is.
- `early`: left half and mirrored right half stacked as 6 channels (the older script's input).
  The first convolution starts as groups (W + V) / 2 and (W - V) / 2, V a fresh random init:
  equal halves still give exactly W applied to one half (ImageNet weights keep their meaning),
  and the weights start sensitive to the difference L - R. The older [W/2, W/2] start computes
  W (L + R) / 2 only; a face and its mirror image swap the halves, so the gradients that could
  have taught it L - R cancel and it never learns the one thing the input is for.
- `difference`: left half, mirrored right half and their difference L - R, 9 channels. The
  first convolution starts as [W/2, W/2, V]: equal halves give exactly W on one half, as for
  `early`, and V, a fresh init, sees the difference itself from the first step, whatever the
  gain of the camera that made both halves (a gain scales L - R but cannot create it). Not
  mirror-invariant: `eval.tta_flip` averages a face and its mirror image.
- `siamese`: one 3-channel trunk applied to the left half and to the mirrored right half,
  pooled features combined as [(f(L) + f(R)) / 2, |f(L) - f(R)|]: what both sides share and
  what differs between them, symmetric in the two sides (a face and its mirror image get the
  same score) and with ImageNet weights usable unchanged.

`align=mirror` flips the right half so the same anatomical point sits at the same pixel in both
halves; `translate` only shifts it (the older script's behaviour), for comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from thermal_icas.core.errors import ConfigError

FUSIONS = ("none", "early", "difference", "siamese")
ALIGNMENTS = ("mirror", "translate")


class InputAdapter(nn.Module):
    """`fusion=none`: the whole face goes through the trunk as it is."""

    fusion = "none"

    def split(self, faces: Tensor) -> Tensor:
        """(B, 3, H, W) faces -> the trunk's input batch."""
        return faces

    def combine(self, pooled: Tensor) -> Tensor:
        """The trunk's pooled features -> (B, feature_dim) per face."""
        return pooled

    def to_face(self, maps: Tensor) -> Tensor:
        """(B', h, w) maps over the trunk's input -> (B, h, W) maps over the whole face."""
        return maps

    def feature_dim(self, channels: int) -> int:
        return channels

    def first_conv(self, conv: nn.Conv2d) -> nn.Conv2d:
        return conv


class _Halves(InputAdapter):
    def __init__(self, align: str = "mirror") -> None:
        super().__init__()
        if align not in ALIGNMENTS:
            raise ConfigError(f"asymmetry.align='{align}' must be one of {ALIGNMENTS}")
        self.align = align

    def halves(self, faces: Tensor) -> tuple[Tensor, Tensor]:
        """The left half and the (mirrored or shifted) right half of faces centred on their
        midline, each (B, C, H, W // 2)."""
        half = faces.shape[-1] // 2
        left, right = faces[..., :half], faces[..., faces.shape[-1] - half :]
        return left, right.flip(-1) if self.align == "mirror" else right

    def _whole(self, left: Tensor, right: Tensor) -> Tensor:
        """Half-width maps put back where their pixels came from."""
        return torch.cat([left, right.flip(-1) if self.align == "mirror" else right], dim=-1)


class EarlyFusion(_Halves):
    fusion = "early"

    def split(self, faces: Tensor) -> Tensor:
        return torch.cat(self.halves(faces), dim=1)

    def to_face(self, maps: Tensor) -> Tensor:
        """One map covers both halves at once, so it is drawn on both."""
        return self._whole(maps, maps)

    def first_conv(self, conv: nn.Conv2d) -> nn.Conv2d:
        return early_fusion_conv(conv)


class DifferenceFusion(EarlyFusion):
    fusion = "difference"

    def split(self, faces: Tensor) -> Tensor:
        left, right = self.halves(faces)
        return torch.cat([left, right, left - right], dim=1)

    def first_conv(self, conv: nn.Conv2d) -> nn.Conv2d:
        return difference_conv(conv)


class SiameseFusion(_Halves):
    fusion = "siamese"

    def split(self, faces: Tensor) -> Tensor:
        return torch.cat(self.halves(faces), dim=0)

    def combine(self, pooled: Tensor) -> Tensor:
        # the same halves as chunk(2), whose size arithmetic makes torch.export (ONNX) fix the
        # batch size; a reshape keeps it free
        left, right = pooled.unflatten(0, (2, -1)).unbind()
        return torch.cat([(left + right) / 2, (left - right).abs()], dim=1)

    def to_face(self, maps: Tensor) -> Tensor:
        return self._whole(*maps.chunk(2))

    def feature_dim(self, channels: int) -> int:
        return 2 * channels


@dataclass(frozen=True)
class Asymmetry:
    """The `asymmetry=on` lever. On the data side faces are turned upright and centred on their
    midline when preprocessed (`align_on_midline`); on the model side `adapter()` splits them
    into halves and fuses the trunk's features of both (`fusion=none`: the aligned whole face
    through one trunk)."""

    fusion: str = "siamese"
    align: str = "mirror"

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ConfigError(f"asymmetry.fusion='{self.fusion}' must be one of {FUSIONS}")
        if self.align not in ALIGNMENTS:
            raise ConfigError(f"asymmetry.align='{self.align}' must be one of {ALIGNMENTS}")

    def adapter(self) -> InputAdapter:
        return build_adapter(self.fusion, self.align)


def build_adapter(fusion: str, align: str = "mirror") -> InputAdapter:
    adapters = {
        "none": InputAdapter,
        "early": EarlyFusion,
        "difference": DifferenceFusion,
        "siamese": SiameseFusion,
    }
    if fusion not in adapters:
        raise ConfigError(f"asymmetry.fusion='{fusion}' must be one of {FUSIONS}")
    return adapters[fusion]() if fusion == "none" else adapters[fusion](align)


def early_fusion_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """A 6-channel first convolution [(W + V) / 2, (W - V) / 2] from a 3-channel one (W)."""
    return _wider_conv(conv, 2, lambda w, v: [(w + v) / 2, (w - v) / 2])


def difference_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """A 9-channel first convolution [W/2, W/2, V] from a 3-channel one (W) for [L, R, L - R]."""
    return _wider_conv(conv, 3, lambda w, v: [w / 2, w / 2, v])


def _wider_conv(
    conv: nn.Conv2d, inputs: int, blocks: Callable[[Tensor, Tensor], list[Tensor]]
) -> nn.Conv2d:
    """`conv` over `inputs` stacked inputs of its width, its weight per input given by `blocks`
    of the pretrained weight W and a fresh init V; the bias kept. The same class (timm's
    `Conv2dSame` pads as TensorFlow does), stride, padding and dilation."""
    if conv.groups != 1:
        raise ConfigError(
            f"asymmetry.fusion needs a first convolution over all input channels; this "
            f"backbone's has groups={conv.groups}: use asymmetry.fusion=siamese"
        )
    # only a non-default padding mode is passed on: timm's Conv2dSame takes none
    extra = {} if conv.padding_mode == "zeros" else {"padding_mode": conv.padding_mode}
    wide = type(conv)(
        inputs * conv.in_channels,
        conv.out_channels,
        kernel_size=conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
        bias=conv.bias is not None,
        **extra,
    )
    fresh = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, bias=False).weight
    with torch.no_grad():
        wide.weight.copy_(torch.cat(blocks(conv.weight, fresh.to(conv.weight)), dim=1))
        if conv.bias is not None:
            wide.bias.copy_(conv.bias)
    return wide


def side_scores(faces: Tensor, maps: Tensor) -> Tensor:
    """(B,) which side the model blames: right minus left intensity (the left half against the
    mirrored right half, channel mean of the model input) weighted by where the map puts its
    mass, both sides' map mass pooled. Positive: the image-left side is cooler where the model
    looks, negative: the image-right side. Reduced perfusion, what ICAS does, cools the
    affected side, hence the reading. `faces` (B, 3, H, W) centred on the midline; `maps`
    (B, h, w) >= 0 over the whole face."""
    height, width = faces.shape[-2:]
    half = width // 2
    weight = F.interpolate(maps[:, None].float(), size=(height, width), mode="bilinear")[:, 0]
    weight = weight[..., :half] + weight[..., width - half :].flip(-1)
    intensity = faces.float().mean(1)
    left, right = intensity[..., :half], intensity[..., width - half :].flip(-1)
    return ((right - left) * weight).sum((1, 2)) / weight.sum((1, 2)).clamp_min(1e-12)


def side_label(score: float) -> str:
    """The image side a `side_scores` value blames."""
    return "left" if score > 0 else "right"
