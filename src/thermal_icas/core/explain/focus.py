"""How focused an explanation map is, and on what: scores comparable across ablation arms.

Maps are upsampled (bilinear) to the face mask's resolution, i.e. the model input's, and read
as a distribution of mass over its pixels:

- `in_face`: share of the mass on the face region (the soft face mask as weight). A map that
  spreads evenly scores the face's area share; one that looks only at the face scores 1.
- `face_area`: the face's share of the image, what an even map scores as `in_face`.
- `sparsity`: share of the mass in the top 10% of pixels (0.1 for an even map, 1.0 when all
  mass sits in at most a tenth of the pixels).
- `lr_balance` (asymmetry arms only): share of the input attribution |x * d score / dx| on the
  image-left half of the face; 0.5 is balanced.

Maps with no mass (a class map is all zero when no feature supports the prediction) are left out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import Metric

from thermal_icas.core.explain.maps import ExplanationMaps

TOP_FRACTION = 0.1
SCORES = ("in_face", "face_area", "sparsity", "gate_in_face", "gate_sparsity", "lr_balance")


def upsample(maps: Tensor, size: tuple[int, int]) -> Tensor:
    """(B, h, w) -> (B, H, W), bilinear, as the maps are drawn."""
    return F.interpolate(maps[:, None].float(), size=size, mode="bilinear", align_corners=False)[
        :, 0
    ]


def in_face_share(maps: Tensor, faces: Tensor) -> Tensor:
    """(B,) share of each map's mass on the face; `faces` is (B, H, W) in [0, 1]."""
    maps = upsample(maps, faces.shape[-2:])
    return (maps * faces).sum((1, 2)) / maps.sum((1, 2)).clamp_min(1e-12)


def top_mass_share(maps: Tensor, size: tuple[int, int], fraction: float = TOP_FRACTION) -> Tensor:
    """(B,) share of each map's mass in its top `fraction` of pixels."""
    flat = upsample(maps, size).flatten(1)
    k = max(1, round(fraction * flat.shape[1]))
    return flat.topk(k, dim=1).values.sum(1) / flat.sum(1).clamp_min(1e-12)


class FocusMetrics(Metric):
    """Means of the focus scores over an epoch, summed across processes under DDP."""

    full_state_update = False

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix
        for name in SCORES:
            self.add_state(f"{name}_sum", torch.tensor(0.0, dtype=torch.float64), "sum")
            self.add_state(f"{name}_count", torch.tensor(0.0, dtype=torch.float64), "sum")

    def update(self, maps: ExplanationMaps, faces: Tensor) -> None:
        faces = faces.flatten(0, -3)  # (B, 1, H, W) -> (B, H, W)
        size = (faces.shape[-2], faces.shape[-1])
        self._add("in_face", "sparsity", maps.cam, faces, size)
        kept = maps.cam.flatten(1).sum(1) > 0
        if kept.any():
            self._accumulate("face_area", faces[kept].mean((1, 2)))
        if maps.gate is not None:
            self._add("gate_in_face", "gate_sparsity", maps.gate, faces, size)
        if maps.left_share is not None:
            self._accumulate("lr_balance", maps.left_share)

    def _add(
        self, face_key: str, sparse_key: str, maps: Tensor, faces: Tensor, size: tuple[int, int]
    ) -> None:
        keep = maps.flatten(1).sum(1) > 0
        if keep.any():
            self._accumulate(face_key, in_face_share(maps[keep], faces[keep]))
            self._accumulate(sparse_key, top_mass_share(maps[keep], size))

    def _accumulate(self, name: str, values: Tensor) -> None:
        state = f"{name}_sum"
        setattr(self, state, getattr(self, state) + values.double().sum())
        count = f"{name}_count"
        setattr(self, count, getattr(self, count) + values.numel())

    def compute(self) -> dict[str, Tensor]:
        values = {}
        for name in SCORES:
            count = getattr(self, f"{name}_count")
            if count > 0:
                values[f"{self.prefix}{name}"] = (getattr(self, f"{name}_sum") / count).float()
        return values
