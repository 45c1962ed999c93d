"""Callbacks shared by both stages."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback


class ChannelsLastOnGPU(Callback):
    """Channels-last weights on a CUDA device, where convolutions (tensor cores, bf16) run
    faster in that layout; on CPU the model is left as it is, so CPU runs stay reproducible."""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if trainer.strategy.root_device.type == "cuda":
            pl_module.to(memory_format=torch.channels_last)
