"""Where the model looks: class maps (HiResCAM, Grad-CAM), gate maps, focus metrics, overlays."""

from thermal_icas.core.explain.focus import FocusMetrics, in_face_share, top_mass_share
from thermal_icas.core.explain.maps import CAM_METHODS, ExplanationMaps, explain_batch

__all__ = [
    "CAM_METHODS",
    "ExplanationMaps",
    "FocusMetrics",
    "explain_batch",
    "in_face_share",
    "top_mass_share",
]
