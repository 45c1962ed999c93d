"""Does a model's score rest on what lies around the face? Two checks and the alarm they feed.

- `in_face` (focus.py) reads the class map: where the evidence for the decision sits.
- `background_effect` asks the model: every pixel outside the face region gets the mask's
  background value (what `mask=content_based` would have fed it), and the mean change of the
  positive-class probability says how much the surroundings carry. A masked model scores 0.
  The map alone can miss a shortcut: on the real-face trap benchmark (README), an unmasked
  model lured by a hot background object (test AUROC 0.31) still put 1.45 x an even share of
  its HiResCAM mass on the face, since the object moved its score (0.60 to 0.80 on the images
  that show it) but most of the evidence still sat on the face; its background effect was 0.19.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, MutableMapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)

ALARM_KEY = "test/attention/outside_face"
EFFECT_KEY = "test/attention/background_effect"


@dataclass(frozen=True)
class ShortcutChecks:
    """The test's checks of where the model looks (`explain.*`): whether to measure the class
    map's focus and the background effect, and the alarm's two limits."""

    focus_metrics: bool = True
    min_in_face_lift: float = 1.0
    max_background_effect: float = 0.1


def background_effect(
    classifier: nn.Module,
    images: Tensor,
    faces: Tensor,
    fill: Tensor,
    positive_index: int,
    clinical: Tensor | None = None,
) -> Tensor:
    """(B,) |p(image) - p(face only)|: `images` (B, C, H, W) as the model takes them, `faces`
    (B, H, W) in [0, 1], `fill` (C,) the background value in the model's input scale, and a
    fused classifier's clinical features (B, F), held fixed. Every pixel the soft face region
    touches is kept, so a masked input is its own face-only image."""
    keep = faces[:, None] > 0
    face_only = torch.where(keep, images, fill.to(images).view(1, -1, 1, 1))
    was_training = classifier.training
    classifier.eval()
    with torch.inference_mode():
        both = None if clinical is None else torch.cat([clinical, clinical])
        probs = classifier(torch.cat([images, face_only]), both).float().softmax(-1)
    classifier.train(was_training)
    return (probs[: len(images), positive_index] - probs[len(images) :, positive_index]).abs()


def mean_background_effect(
    classifier: nn.Module,
    batches: Iterable[dict[str, Tensor]],
    fill: Sequence[float],
    positive_index: int,
    clinical: Tensor | None = None,
) -> dict[str, float]:
    """`test/attention/background_effect` over evaluation batches that carry face regions;
    `fill` per channel, in the model's input scale; `clinical` the fused classifier's features
    per image row, looked up by the batches' indices."""
    device = next(classifier.parameters()).device
    fill_tensor = torch.as_tensor(fill, dtype=torch.float32)
    effects = [
        background_effect(
            classifier,
            batch["image"].to(device),
            batch["face"][:, 0].to(device),
            fill_tensor,
            positive_index,
            None if clinical is None else clinical[batch["index"]].to(device),
        ).cpu()
        for batch in batches
        if "face" in batch
    ]
    return {EFFECT_KEY: float(torch.cat(effects).mean())} if effects else {}


def shortcut_alarm(
    metrics: MutableMapping[str, float], min_lift: float, max_effect: float = 1.0
) -> bool:
    """Flag (`test/attention/outside_face` = 1, and a warning) a run whose score likely rests on
    the background (a hot object, a wall, the crop's border), not on the face: its test class
    map puts less of its mass on the face than `min_lift` x the face's area share (what an even
    map would put there; relative, since faces cover a third to two thirds of the frame), or
    removing the background moves its predictions by more than `max_effect` on average."""
    in_face = metrics.get("test/attention/in_face")
    area = metrics.get("test/attention/face_area")
    effect = metrics.get(EFFECT_KEY)
    has_map = in_face is not None and bool(area)
    if not has_map and effect is None:
        return False
    looks_outside = has_map and in_face < min_lift * area
    rests_outside = effect is not None and effect > max_effect
    alarm = looks_outside or rests_outside
    metrics[ALARM_KEY] = float(alarm)
    if looks_outside:
        log.warning(
            "SHORTCUT ALARM: the model looks mostly outside the face (test attention/in_face "
            "%.2f, below explain.min_in_face_lift %.2f x the face's area share %.2f); its score "
            "may rest on the background. Try a face mask (mask=content_based) and look at "
            "<run>/explain/.",
            in_face,
            min_lift,
            area,
        )
    if rests_outside:
        log.warning(
            "SHORTCUT ALARM: removing the background moves the test predictions by %.3f on "
            "average (attention/background_effect, above explain.max_background_effect %.3f): "
            "the score rests partly on what lies around the face. Try a face mask "
            "(mask=content_based) and look at <run>/explain/.",
            effect,
            max_effect,
        )
    return alarm
