"""Data: folder scanning, patient splits, preprocessing cache, augmentation, synthetic faces.

The LightningDataModule that serves them to a run is `thermal_icas.train.datamodule.ThermalData`.
"""

from thermal_icas.core.data.classes import ClassInfo
from thermal_icas.core.data.records import ImageRecord
from thermal_icas.core.data.synthetic import SyntheticSpec
from thermal_icas.core.errors import DatasetError

__all__ = ["ClassInfo", "DatasetError", "ImageRecord", "SyntheticSpec"]
