"""Stage 1: contrastive pretraining of the encoder (scored by `lit.probe.ProbeCallback`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from thermal_icas.core.data.device_batches import DeviceBatches
from thermal_icas.core.models.encoder import ThermalEncoder
from thermal_icas.core.models.heads import ProjectionHead
from thermal_icas.train.lit.base import TrainingMeansModule


class ContrastiveModule(TrainingMeansModule):
    """Trains encoder + projection on two views per training image; nothing else learns here,
    so the encoder's features are all a probe of them can measure."""

    def __init__(
        self,
        encoder: ThermalEncoder,
        loss: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: Callable[..., Any] | None = None,
        projection_dim: int = 128,
        device_batches: DeviceBatches | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            ignore=["encoder", "loss", "optimizer", "scheduler", "device_batches"]
        )
        self.device_batches = device_batches
        self.encoder = encoder
        self.projection = ProjectionHead(encoder.out_dim, projection_dim)
        self.loss = loss
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Two views per image, assembled and augmented on the device in one pass, for training
        batches shipped as indices."""
        if self.device_batches is not None and DeviceBatches.assembles(batch):
            batch["views"], batch["label"] = self.device_batches(batch["index"], views=2)
        return batch

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        view1, view2 = batch["views"]
        labels = batch["label"]
        f1, f2 = self.encoder(torch.cat([view1, view2])).chunk(2)
        z1, z2 = self.projection(f1), self.projection(f2)
        contrastive = self.loss(z1, z2, labels if self.loss.needs_labels else None)
        self.train_means.update({"contrastive/loss": contrastive}, len(labels))
        return contrastive

    def configure_optimizers(self) -> Any:
        params = [*self.encoder.parameters(), *self.projection.parameters()]
        optimizer = self.optimizer_factory(params)
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}
