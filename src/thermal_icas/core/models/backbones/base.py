"""The backbone protocol: what the encoder, the levers, the explanations and the memory check
need of a trunk, whichever library built it.

Every trunk runs in four stages named `layer1..layer4` (the last four of its feature levels for
a CNN, four even groups of blocks for a vision transformer), so `attention.layer` and
`explain.layer` mean the same for every provider: `layer3` is the second-last stage.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

from torch import Tensor, nn

from thermal_icas.core.errors import PretrainedWeightsError

STAGES = ("layer1", "layer2", "layer3", "layer4")
# ImageNet statistics: the normalisation of torchvision's and most of timm's pretrained weights
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# called with each stage's output map (B, C, h, w); returns the map the trunk goes on with
Visit = Callable[[str, Tensor], Tensor]


class Trunk(nn.Module, ABC):
    """A feature extractor: (B, C_in, H, W) images to (B, width) pooled features.

    `channels[stage]` and `reductions[stage]` (how many input pixels per map position, per side)
    describe each stage's output map; `mean` and `std` are the input normalisation its
    pretrained weights expect.
    """

    channels: dict[str, int]
    reductions: dict[str, int]
    width: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    @abstractmethod
    def forward(self, images: Tensor, visit: Visit | None = None) -> Tensor:
        """Pooled features; `visit` sees (and may replace) every stage's output map."""

    @abstractmethod
    def stage(self, name: str) -> nn.Module:
        """The module whose output is stage `name`'s map (for hooks and reference tools)."""

    @abstractmethod
    def widen_stem(self, adapt: Callable[[nn.Conv2d], nn.Conv2d]) -> None:
        """Replace the first convolution by `adapt(it)` (the asymmetry arms' wider input)."""


def weights_file(pretrained: str) -> Path:
    """`model.pretrained` when it is neither `none` nor `imagenet`: an existing weights file."""
    path = Path(pretrained).expanduser()
    if not path.is_file():
        raise PretrainedWeightsError(
            f"model.pretrained='{path}' is neither 'none', 'imagenet' nor an existing file"
        )
    return path
