"""Errors caused by the user's data or settings, and how a failed sweep job is marked."""

import logging
import traceback
from pathlib import Path

from thermal_icas.data.records import DatasetError
from thermal_icas.models.backbone import PretrainedWeightsError
from thermal_icas.settings import ConfigError

log = logging.getLogger(__name__)

USER_ERRORS: tuple[type[Exception], ...] = (DatasetError, PretrainedWeightsError, ConfigError)
# in a failed job's folder: the reason on the first line, then the traceback
FAILURE_FILE = "error.txt"


def record_failure(output_dir: str | Path, error: BaseException) -> None:
    """Log the error and leave `error.txt` in the job's folder for the sweep summary."""
    log.error("This job failed: %s: %s", type(error).__name__, error, exc_info=error)
    path = Path(output_dir) / FAILURE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    details = "".join(traceback.format_exception(error))
    path.write_text(f"{type(error).__name__}: {error}\n\n{details}")


def user_error(error: BaseException) -> BaseException | None:
    """The data or settings problem behind an error, if any: Hydra wraps what a constructor
    raises during instantiation, so the cause chain is searched."""
    while error is not None:
        if isinstance(error, USER_ERRORS):
            return error
        error = error.__cause__
    return None
