"""Data: folder scanning, patient splits, preprocessing cache, augmentation, synthetic faces."""

from thermal_icas.data.classes import ClassInfo
from thermal_icas.data.records import ImageRecord
from thermal_icas.data.synthetic import SyntheticSpec
from thermal_icas.data.thermal_data import ThermalData
from thermal_icas.errors import DatasetError

__all__ = ["ClassInfo", "DatasetError", "ImageRecord", "SyntheticSpec", "ThermalData"]
