"""Resuming a crashed run in its own folder, at the stage and epoch where it stopped.

A resumed run must reach the metrics of an uninterrupted one, so checkpoints also carry the
random number generators' states: the loader's shuffling and the augmentation continue from
where the saved epoch left them.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from thermal_icas.core import run_files
from thermal_icas.core.models.checkpoint import load_encoder, save_encoder
from thermal_icas.core.models.encoder import ThermalEncoder
from thermal_icas.core.torch_files import read_checkpoint

log = logging.getLogger(__name__)


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
    set_rng_state(read_checkpoint(path, "delete it: stage 2 then starts with fresh generators"))


@dataclass(frozen=True)
class Resume:
    """What a run finds in its own folder when it is resumed (`resume=`); nothing otherwise."""

    run_dir: Path
    on: bool

    def checkpoint(self, stage: str) -> str | None:
        """The stage's last checkpoint, so it continues after its last epoch."""
        if not self.on:
            return None
        found = run_files.last_checkpoint(self.run_dir, stage)
        if found is None:
            return None
        read_checkpoint(
            found, f"delete it and resume again: {stage} training then restarts at epoch 1"
        )
        log.info("Resuming %s training from %s", stage, found)
        return str(found)

    def finished_stage_one(self, encoder: ThermalEncoder) -> dict[str, float] | None:
        """After stage 1 had finished: its encoder is reloaded, its metrics returned."""
        if not self.on or not (self.run_dir / run_files.ENCODER).is_file():
            return None
        log.info("Resuming: stage 1 had finished; its encoder is reloaded")
        load_encoder(encoder, self.run_dir / run_files.ENCODER)
        return json.loads((self.run_dir / run_files.STAGE1_METRICS).read_text())

    def restore_stage_two_start(self) -> None:
        """A stage 2 that saved no checkpoint yet starts where it started before."""
        saved = self.run_dir / run_files.STAGE2_RNG
        started = run_files.last_checkpoint(self.run_dir, "classifier") is not None
        if self.on and not started and saved.is_file():
            load_rng(saved)


def record_stage_one(run_dir: Path, metrics: dict[str, float], encoder: ThermalEncoder) -> None:
    """Stage 1's metrics, where stage 2 starts (for a run that crashes before its first
    checkpoint) and last, in one step, the encoder file that marks stage 1 as finished."""
    (run_dir / run_files.STAGE1_METRICS).write_text(json.dumps(metrics))
    save_rng(run_dir / run_files.STAGE2_RNG)
    save_encoder(encoder, run_dir / run_files.ENCODER)


def restore_generators(trainer: L.Trainer) -> None:
    """After a fit, the generators as at its last checkpoint. A fit resumed from its last
    epoch's checkpoint runs no epoch but still draws (a new loader iterator); what follows
    starts from the state at that checkpoint, as after an uninterrupted fit, whose last
    checkpoint is its end."""
    saved = next((c.last for c in trainer.callbacks if isinstance(c, RngState)), None)
    if saved is not None:
        set_rng_state(saved)
