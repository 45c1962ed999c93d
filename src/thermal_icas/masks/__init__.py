"""Face masks applied to every image before it reaches the model."""

from thermal_icas.masks.base import FaceMask, MaskResult, NoMask
from thermal_icas.masks.masking import Masking

__all__ = ["FaceMask", "MaskResult", "Masking", "NoMask"]
