"""Data: folder scanning, patient splits, preprocessing cache, augmentation, synthetic faces.

`ThermalData` (the LightningDataModule) is loaded on first use, so importing a core data module
(`thermal_icas.data.records`, ...) does not load Lightning; `thermal_icas.data.ThermalData`, the
`_target_` of conf/data, still resolves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from thermal_icas.data.classes import ClassInfo
from thermal_icas.data.records import ImageRecord
from thermal_icas.data.synthetic import SyntheticSpec
from thermal_icas.errors import DatasetError

if TYPE_CHECKING:
    from thermal_icas.data.thermal_data import ThermalData


def __getattr__(name: str) -> Any:
    if name == "ThermalData":
        from thermal_icas.data.thermal_data import ThermalData

        return ThermalData
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ClassInfo", "DatasetError", "ImageRecord", "SyntheticSpec", "ThermalData"]
