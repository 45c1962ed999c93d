"""Resuming a crashed run in its own folder, at the stage and epoch where it stopped.

A resumed run must reach the metrics of an uninterrupted one, so checkpoints also carry the
random number generators' states: the loader's shuffling and the augmentation continue from
where the saved epoch left them.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback


def rng_state() -> dict[str, Any]:
    """Every generator a run draws from, as tensors and plain values (safe to load)."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    version, state, python_gauss = random.getstate()
    saved: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
        "python": [version, list(state), python_gauss],
    }
    if torch.cuda.is_available():
        saved["cuda"] = torch.cuda.get_rng_state_all()
    return saved


def set_rng_state(saved: dict[str, Any]) -> None:
    torch.set_rng_state(saved["torch"])
    keys, position, has_gauss, gauss = saved["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    version, state, python_gauss = saved["python"]
    random.setstate((version, tuple(state), python_gauss))
    if "cuda" in saved and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda"])


class RngState(Callback):
    """Puts the generators' states into every checkpoint and restores them on resume.

    `last` is the state last saved or restored: where a stage's generators stand at its last
    checkpoint, the point a resumed run restarts from.
    """

    def __init__(self) -> None:
        self.last: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        self.last = rng_state()
        return self.last

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.last = state_dict
        set_rng_state(state_dict)


def save_rng(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(rng_state(), path)


def load_rng(path: Path) -> None:
    set_rng_state(torch.load(path, weights_only=True))
