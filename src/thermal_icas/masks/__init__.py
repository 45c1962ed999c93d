"""Face masks applied to every image before it reaches the model."""

from thermal_icas.masks.base import FaceMask, NoMask, apply_mask

__all__ = ["FaceMask", "NoMask", "apply_mask"]
