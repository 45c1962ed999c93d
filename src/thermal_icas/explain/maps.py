"""Explanation maps for any classifier: Grad-CAM for every arm, the gate's own map if it has one.

Grad-CAM (Selvaraju et al., 2017) weights the last feature map's channels by the spatially
averaged gradient of a class score and keeps the positive part. The score here is the
predicted class's margin (its logit minus the mean of the others), the evidence for the
decision over the alternative; a single logit can be negative everywhere and leave no map.
It needs only the model's forward pass, so the four ablation arms are explained by the same
method on the same images. Lightning evaluates under inference mode, where autograd is off
and tensors cannot join a graph, so maps are computed on a fresh copy of the input with
autograd on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from thermal_icas.models.heads import ThermalClassifier

# channels of one face half in the asymmetry input (left half first)
HALF_CHANNELS = 3


@dataclass(frozen=True)
class ExplanationMaps:
    logits: Tensor  # (B, classes), from the same forward pass as the maps
    gradcam: Tensor  # (B, h, w) >= 0, at the last feature map's resolution
    gate: Tensor | None  # (B, h, w) >= 0, mean 1: the attention gate's map
    left_share: Tensor | None  # (B,) share of input attribution on the left half (6 channels)

    @property
    def probs(self) -> Tensor:
        return self.logits.float().softmax(-1)

    def cpu(self) -> ExplanationMaps:
        return self._apply(lambda t: t.cpu())

    def select(self, index: int) -> ExplanationMaps:
        """The maps of one image, as a batch of one."""
        return self._apply(lambda t: t[index : index + 1])

    def _apply(self, change: Callable[[Tensor], Tensor]) -> ExplanationMaps:
        present = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(self, **{k: change(v) for k, v in present.items() if v is not None})


def explain_batch(classifier: ThermalClassifier, images: Tensor) -> ExplanationMaps:
    """Maps for the class each image is predicted as, without changing the model's mode."""
    with torch.inference_mode(False), torch.enable_grad():
        x = images.detach().clone().requires_grad_(True)
        features, gate = classifier.encoder.feature_map(x)
        logits = classifier.head(classifier.encoder.pool(features).flatten(1))
        predicted = logits.argmax(-1, keepdim=True)
        others = (logits.sum(-1, keepdim=True) - logits.gather(1, predicted)) / (
            logits.shape[-1] - 1
        )
        score = (logits.gather(1, predicted) - others).sum()
        feature_grad, input_grad = torch.autograd.grad(score, [features, x])
    weights = feature_grad.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * features).sum(1)).detach()
    left_share = None
    if x.shape[1] == 2 * HALF_CHANNELS:
        attribution = (x * input_grad).abs().detach().sum(dim=(2, 3))
        left = attribution[:, :HALF_CHANNELS].sum(1)
        left_share = left / attribution.sum(1).clamp_min(1e-12)
    return ExplanationMaps(
        logits=logits.detach(),
        gradcam=cam.float(),
        gate=None if gate is None else gate.detach()[:, 0].float(),
        left_share=left_share,
    )
