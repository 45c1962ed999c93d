"""Data: folder scanning, patient splits, preprocessing cache, augmentation, synthetic faces."""

from thermal_icas.data.records import ClassInfo, DatasetError, ImageRecord
from thermal_icas.data.synthetic import SyntheticSpec
from thermal_icas.data.thermal_data import ThermalData

__all__ = ["ClassInfo", "DatasetError", "ImageRecord", "SyntheticSpec", "ThermalData"]
