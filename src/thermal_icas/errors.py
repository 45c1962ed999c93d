"""Errors caused by the user's data or settings, reported as one line instead of a traceback."""

from thermal_icas.data.records import DatasetError
from thermal_icas.models.backbone import PretrainedWeightsError

USER_ERRORS: tuple[type[Exception], ...] = (DatasetError, PretrainedWeightsError)
