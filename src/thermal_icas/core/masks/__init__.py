"""Face masks applied to every image before it reaches the model."""

from thermal_icas.core.masks.base import FaceMask, MaskResult, NoMask
from thermal_icas.core.masks.content import ContentBasedMask
from thermal_icas.core.masks.geometric import AdaptiveMask, EllipseMask, RectangleMask
from thermal_icas.core.masks.masking import Masking

__all__ = [
    "AdaptiveMask",
    "ContentBasedMask",
    "EllipseMask",
    "FaceMask",
    "MaskResult",
    "Masking",
    "NoMask",
    "RectangleMask",
]
