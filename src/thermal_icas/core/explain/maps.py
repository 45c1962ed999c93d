"""Explanation maps for any classifier: a class map for every arm, the gate's own map if any.

The class map is HiResCAM (Draelos & Carin, 2020) by default: a feature map times the gradient
of the class score, element-wise, summed over channels, positive part. Grad-CAM (Selvaraju et
al., 2017; `explain.method=gradcam`) first averages the gradient over positions, so it lights
up wherever the channels it weights are active, not where they move the score. On the focus
toy (scripts/focus_toy.py, 10 seeds) Grad-CAM gave 2 background-patch models more than an even
map's share on the face and 2 face-patch models less; HiResCAM kept every background model
below 0.5 x that share and every face model above 2.7 x.

The score is the predicted class's margin (its logit minus the mean of the others), the
evidence for the decision over the alternative; a single logit can be negative everywhere and
leave no map. The layer is `explain.layer`: the last one (layer4) is only 2x2 at 64 px, where
any map is about the face's area share, so by default the deepest layer with a map of at least
6x6 is used. Maps from the halves of an asymmetry input are put back where their pixels came
from, so every map covers the whole face. Lightning evaluates under inference mode, where
autograd is off and tensors cannot join a graph, so maps are computed on a fresh copy of the
input with autograd on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from thermal_icas.core.asymmetry import side_scores
from thermal_icas.core.errors import ConfigError
from thermal_icas.core.models.heads import ThermalClassifier


@dataclass(frozen=True)
class ExplanationMaps:
    logits: Tensor  # (B, classes), from the same forward pass as the maps
    cam: Tensor  # (B, h, w) >= 0 over the whole face: `explain.method`'s map
    gate: Tensor | None  # (B, h', w') >= 0, mean 1 per half: the attention gate's map
    left_share: Tensor | None  # (B,) share of the input attribution on the image-left half
    side: Tensor | None  # (B,) > 0: the image-left side is cooler where Grad-CAM looks

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


CAM_METHODS = ("hirescam", "gradcam")


def check_method(method: str) -> None:
    if method not in CAM_METHODS:
        raise ConfigError(f"explain.method='{method}' must be one of {CAM_METHODS}")


def class_activation_map(features: Tensor, gradient: Tensor, method: str) -> Tensor:
    """(B, C, h, w) activations and their gradients -> (B, h, w) maps of `method`."""
    check_method(method)
    if method == "gradcam":
        gradient = gradient.mean(dim=(2, 3), keepdim=True)
    return torch.relu((gradient * features).sum(1))


def explain_batch(
    classifier: ThermalClassifier,
    images: Tensor,
    layer: str,
    method: str = "hirescam",
    clinical: Tensor | None = None,
) -> ExplanationMaps:
    """Maps for the class each image is predicted as, without changing the model's mode; a
    fused classifier's clinical features are held fixed (they have no place on the face)."""
    encoder = classifier.encoder
    with torch.inference_mode(False), torch.enable_grad():
        x = images.detach().clone().requires_grad_(True)
        out = encoder.forward_maps(x, capture=layer)
        assert out.captured is not None
        logits = classifier.classify(out.features, clinical)
        predicted = logits.argmax(-1, keepdim=True)
        others = (logits.sum(-1, keepdim=True) - logits.gather(1, predicted)) / (
            logits.shape[-1] - 1
        )
        score = (logits.gather(1, predicted) - others).sum()
        feature_grad, input_grad = torch.autograd.grad(score, [out.captured, x])
    cam = encoder.adapter.to_face(
        class_activation_map(out.captured.detach(), feature_grad, method)
    ).float()
    left_share = side = None
    if encoder.adapter.fusion != "none":
        attribution = (x * input_grad).abs().detach().sum(1)
        half = attribution.shape[-1] // 2
        left = attribution[..., :half].sum((1, 2))
        left_share = left / attribution.sum((1, 2)).clamp_min(1e-12)
        side = side_scores(images.detach(), cam)
    gate = None if out.gate is None else encoder.adapter.to_face(out.gate.detach()[:, 0]).float()
    return ExplanationMaps(
        logits=logits.detach(), cam=cam, gate=gate, left_share=left_share, side=side
    )
