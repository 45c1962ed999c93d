"""Where the model looks: Grad-CAM and gate maps, focus metrics, overlays."""

from thermal_icas.explain.focus import FocusMetrics, in_face_share, top_mass_share
from thermal_icas.explain.maps import ExplanationMaps, explain_batch

__all__ = ["ExplanationMaps", "FocusMetrics", "explain_batch", "in_face_share", "top_mass_share"]
