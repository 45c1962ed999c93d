"""Reading the torch files a run or a user wrote (checkpoints, weights, generator states):
all through `read_checkpoint`, so a damaged file gets one line naming it."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from thermal_icas.core.errors import PretrainedWeightsError

# what torch.load raises on a file cut short (a full disk, a killed copy) or that is no
# checkpoint at all
DAMAGED = (OSError, RuntimeError, EOFError, KeyError, ValueError, pickle.UnpicklingError)


def read_checkpoint(path: Path, instead: str) -> Any:
    """The file's tensors (weights only: no pickled code runs); a damaged one is named with
    what to use `instead`, not left to a traceback from inside torch."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except DAMAGED as error:
        reason = str(error).splitlines()[0][:160] if str(error).strip() else type(error).__name__
        raise PretrainedWeightsError(
            f"'{path}' is damaged or is not a checkpoint ({reason}); {instead}"
        ) from None
