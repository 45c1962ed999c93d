"""Can the focus metric tell a background shortcut from a model that reads the face?

A toy where the truth is known: 32 px frames, dim noise on an elliptical face for both classes,
and a bright 4 x 4 patch on the positives, either in a background corner or inside the face:
the only thing the label depends on. A from-scratch ResNet-18 learns either in 25 steps. For
each seed and class-map method the script prints `in_face` of the positives' maps divided by
the face's area share (what an even map scores), the quantity the shortcut alarm compares with
`explain.min_in_face_lift`, and the background effect (mean change of the positive-class
probability when everything outside the face is blacked out), which it compares with
`explain.max_background_effect`. The alarm levels and the default method were chosen from this
toy, not from any benchmark's test split.

    python scripts/focus_toy.py --seeds 10
"""

from __future__ import annotations

import argparse

import torch
from torch.nn.functional import cross_entropy

from thermal_icas.core.explain import CAM_METHODS, explain_batch, in_face_share
from thermal_icas.core.explain.shortcut import background_effect
from thermal_icas.core.models.encoder import ThermalEncoder, explain_layer
from thermal_icas.core.models.heads import ThermalClassifier

SIZE = 32
_rows, _cols = torch.meshgrid(torch.arange(SIZE) - 15.5, torch.arange(SIZE) - 15.5, indexing="ij")
FACE = ((_rows / 12) ** 2 + (_cols / 9) ** 2 <= 1).float()  # a third of the frame
PLACES = ("background", "face")


def toy_batch(n: int, label_in: str, generator: torch.Generator) -> torch.Tensor:
    """(n, 3, 32, 32) frames; the odd positions (label 1) carry the patch in `label_in`."""
    x = 0.3 * torch.rand(n, 1, SIZE, SIZE, generator=generator) * FACE
    for i in range(1, n, 2):
        if label_in == "background":
            row, col = (int(torch.randint(0, 2, (), generator=generator)) * 26 for _ in "rc")
        else:
            row = int(torch.randint(9, 20, (), generator=generator))
            col = int(torch.randint(11, 18, (), generator=generator))
        x[i, :, row : row + 4, col : col + 4] = 1.0
    return x.expand(-1, 3, -1, -1)


def train_toy(label_in: str, seed: int, steps: int = 25) -> ThermalClassifier:
    """A classifier that has learnt where the label lives (BatchNorm keeps its initial
    statistics, so there is no train/eval gap after so few steps)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    classifier = ThermalClassifier(ThermalEncoder(), 2, 0.0).eval()
    optimizer = torch.optim.Adam(classifier.parameters(), lr=1e-3)
    labels = torch.arange(16) % 2
    for _ in range(steps):
        loss = cross_entropy(classifier(toy_batch(16, label_in, generator)), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return classifier


def test_frames(label_in: str, seed: int) -> torch.Tensor:
    """32 fresh frames, positives at the odd positions."""
    return toy_batch(32, label_in, torch.Generator().manual_seed(1000 + seed))


def focus_lift(
    classifier: ThermalClassifier, label_in: str, seed: int, method: str
) -> tuple[float, float]:
    """(in_face / face area share, accuracy) on the test frames; in_face of the positives."""
    maps = explain_batch(
        classifier, test_frames(label_in, seed), explain_layer("auto", SIZE), method
    )
    accuracy = float((maps.logits.argmax(-1) == torch.arange(32) % 2).float().mean())
    positives = maps.cam[1::2]
    in_face = float(in_face_share(positives, FACE.expand(len(positives), -1, -1)).mean())
    return in_face / float(FACE.mean()), accuracy


def toy_background_effect(classifier: ThermalClassifier, label_in: str, seed: int) -> float:
    """Mean |p(frame) - p(face only)| over the test frames (the toy's background is black)."""
    images = test_frames(label_in, seed)
    faces = FACE.expand(len(images), -1, -1)
    return float(background_effect(classifier, images, faces, torch.zeros(3), 1).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lifts: dict[tuple[str, str], list[float]] = {}
    effects: dict[str, list[float]] = {}
    header = "  ".join(f"{m:>9}" for m in CAM_METHODS)
    print(f"seed  label in    accuracy  {header}  background effect")
    for seed in range(args.seeds):
        for place in PLACES:
            classifier = train_toy(place, seed)
            row = [focus_lift(classifier, place, seed, method) for method in CAM_METHODS]
            for method, (lift, _) in zip(CAM_METHODS, row, strict=True):
                lifts.setdefault((method, place), []).append(lift)
            effect = toy_background_effect(classifier, place, seed)
            effects.setdefault(place, []).append(effect)
            values = "  ".join(f"{lift:9.2f}" for lift, _ in row)
            print(f"{seed:4d}  {place:10s}  {row[0][1]:8.2f}  {values}  {effect:17.3f}", flush=True)
    print("in_face / face area share, range over the seeds:")
    for method in CAM_METHODS:
        shortcut, face = lifts[(method, "background")], lifts[(method, "face")]
        print(
            f"  {method}: background-patch models {min(shortcut):.2f}-{max(shortcut):.2f}, "
            f"face-patch models {min(face):.2f}-{max(face):.2f}"
        )
    for place in PLACES:
        print(
            f"background effect, {place}-patch models: "
            f"{min(effects[place]):.3f}-{max(effects[place]):.3f}"
        )


if __name__ == "__main__":
    main()
