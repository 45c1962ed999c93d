"""The left/right idea in one place: aligning the face on its midline (data side) and the model
input adapters that split it into halves and fuse them (model side)."""

from thermal_icas.core.asymmetry.alignment import align_on_midline, face_midline, face_tilt
from thermal_icas.core.asymmetry.fusion import (
    FUSIONS,
    Asymmetry,
    EarlyFusion,
    InputAdapter,
    SiameseFusion,
    build_adapter,
    side_label,
    side_scores,
)
from thermal_icas.core.asymmetry.sides import side_metrics, true_side

__all__ = [
    "FUSIONS",
    "Asymmetry",
    "EarlyFusion",
    "InputAdapter",
    "SiameseFusion",
    "align_on_midline",
    "build_adapter",
    "face_midline",
    "face_tilt",
    "side_label",
    "side_metrics",
    "side_scores",
    "true_side",
]
