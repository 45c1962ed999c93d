"""Callbacks shared by both stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint

from thermal_icas.core import run_files


class ChannelsLastOnGPU(Callback):
    """Channels-last weights on a CUDA device, where convolutions (tensor cores, bf16) run
    faster in that layout; on CPU the model is left as it is, so CPU runs stay reproducible."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.strategy.root_device.type == "cuda":
            pl_module.to(memory_format=torch.channels_last)


class StageCheckpoint(ModelCheckpoint):
    """A stage's checkpoints where the run folder keeps them (`run_files`): the last epoch's
    (`last.ckpt`, what a resume continues from), and with `monitor` the best one as well."""

    def __init__(self, run_dir: str, stage: str, monitor: str | None = None, **kwargs: Any) -> None:
        best = {"filename": run_files.BEST_CHECKPOINT, "auto_insert_metric_name": False}
        super().__init__(
            dirpath=run_files.stage_checkpoints(run_dir, stage),
            monitor=monitor,
            save_top_k=1,
            save_last=monitor is not None,
            **(best if monitor is not None else {"filename": Path(run_files.LAST_CHECKPOINT).stem}),
            **kwargs,
        )
