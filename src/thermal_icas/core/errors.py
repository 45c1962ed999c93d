"""Every error a user can cause (settings, data, weights), and how a failed sweep job is marked.

Raised where the setting or file is used; the entry points turn them into one line."""

import logging
import traceback
from pathlib import Path

from thermal_icas.core import run_files

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """A config value is invalid; the message names the setting and the accepted values."""


class DatasetError(ValueError):
    """A dataset problem the user must fix; the message names the file or setting."""


class PretrainedWeightsError(RuntimeError):
    """Weights or a run folder cannot be had or read; the message says what to do instead."""


USER_ERRORS: tuple[type[Exception], ...] = (DatasetError, PretrainedWeightsError, ConfigError)


def record_failure(output_dir: str | Path, error: BaseException) -> None:
    """Log the error and leave `error.txt` in the job's folder for the sweep summary."""
    log.error("This job failed: %s: %s", type(error).__name__, error, exc_info=error)
    path = Path(output_dir) / run_files.FAILURE
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
