"""Which side the model blames, per test image and per patient, scored against the true side
where the data says it (the embedded dataset's and `scripts/make_benchmark.py`'s manifest)."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from thermal_icas.core.asymmetry.fusion import side_label

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# how far above an image its dataset's manifest may sit (<root>/<split>/<class>/<image>)
MANIFEST_DEPTH = 3


@cache
def _manifest_sides(manifest: Path) -> dict[str, str | None]:
    images = json.loads(manifest.read_text()).get("images", [])
    return {Path(row["file"]).name: row.get("signal_side") for row in images if "file" in row}


def true_side(image: str) -> str | None:
    """`left`/`right` (image sides) where a manifest above the image names the affected side."""
    path = Path(image)
    for folder in list(path.parents)[:MANIFEST_DEPTH]:
        if (folder / MANIFEST).is_file():
            return _manifest_sides(folder / MANIFEST).get(path.name)
    return None


def side_metrics(
    images: Sequence[str],
    patients: Sequence[str],
    positive: Sequence[bool],
    scores: Sequence[float],
) -> dict[str, float]:
    """`test/asymmetry/side_accuracy`: share of the positive patients with a known side whose
    mean side score blames that side (0.5 = guessing), and `side_n`, their number."""
    by_patient: dict[str, list[float]] = {}
    truth: dict[str, str] = {}
    for image, patient, is_positive, score in zip(images, patients, positive, scores, strict=True):
        side = true_side(image) if is_positive else None
        if side in ("left", "right"):
            by_patient.setdefault(patient, []).append(score)
            truth[patient] = side
    if not by_patient:
        return {}
    hits = [side_label(float(np.mean(s))) == truth[p] for p, s in by_patient.items()]
    accuracy = float(np.mean(hits))
    log.info("Side blamed right for %d of %d positive test patients", sum(hits), len(hits))
    return {"test/asymmetry/side_accuracy": accuracy, "test/asymmetry/side_n": float(len(hits))}
