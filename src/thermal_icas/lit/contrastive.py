"""Stage 1: contrastive pretraining of the encoder, with an online linear probe as a gauge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from thermal_icas.data.device_batches import DeviceBatches
from thermal_icas.lit.base import TrainingMeansModule
from thermal_icas.lit.metrics import screening_metrics
from thermal_icas.models.encoder import ThermalEncoder
from thermal_icas.models.heads import ProjectionHead

PROBE_METRICS = ("contrastive/probe_auroc", "contrastive/probe_acc")


class ContrastiveModule(TrainingMeansModule):
    """Trains encoder + projection on two views per training image.

    The probe learns on detached features, so it measures what the encoder has learned
    without feeding label information back into it; it is scored on the val split each epoch.
    """

    def __init__(
        self,
        encoder: ThermalEncoder,
        loss: nn.Module,
        optimizer: Callable[..., Optimizer],
        scheduler: Callable[..., Any] | None = None,
        projection_dim: int = 128,
        num_classes: int = 2,
        positive_index: int = 1,
        probe_lr: float = 1e-3,
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
        self.probe = nn.Linear(encoder.out_dim, num_classes)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.probe_metrics = screening_metrics().clone(prefix="contrastive/probe_")
        self.restored_probe_results: dict[str, float] = {}

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Two views per image, assembled and augmented on the device in one pass, for training
        batches shipped as indices."""
        if self.device_batches is not None and DeviceBatches.assembles(batch):
            batch["views"], batch["label"] = self.device_batches(batch["index"], views=2)
        return batch

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        view1, view2 = batch["views"]
        labels = batch["label"]
        features = self.encoder(torch.cat([view1, view2]))
        f1, f2 = features.chunk(2)
        z1, z2 = self.projection(f1), self.projection(f2)
        contrastive = self.loss(z1, z2, labels if self.loss.needs_labels else None)
        probe_logits = self.probe(features.detach())
        probe_loss = nn.functional.cross_entropy(probe_logits, torch.cat([labels, labels]))
        self.train_means.update(
            {"contrastive/loss": contrastive, "contrastive/probe_train_loss": probe_loss},
            len(labels),
        )
        return contrastive + probe_loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self.probe(self.encoder(batch["image"]))
        positive = logits.softmax(-1)[:, self.hparams.positive_index]
        target = (batch["label"] == self.hparams.positive_index).long()
        self.probe_metrics.update(positive, target)

    def on_validation_epoch_end(self) -> None:
        values = self.probe_metrics.compute()
        self.log("contrastive/probe_acc", values["contrastive/probe_acc"], prog_bar=True)
        self.log("contrastive/probe_auroc", values["contrastive/probe_auroc"], prog_bar=True)
        self.probe_metrics.reset()

    def probe_results(self) -> dict[str, float]:
        """The probe's scores after the last val epoch: this fit's, or, for a fit resumed
        from its last epoch's checkpoint (which has no epoch left to run), those saved in it."""
        current = {
            key: float(value)
            for key, value in self.trainer.callback_metrics.items()
            if key in PROBE_METRICS
        }
        return {**self.restored_probe_results, **current}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["probe_results"] = self.probe_results()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.restored_probe_results = dict(checkpoint.get("probe_results", {}))

    def configure_optimizers(self) -> Any:
        groups = [
            {"params": [*self.encoder.parameters(), *self.projection.parameters()]},
            {"params": self.probe.parameters(), "lr": self.hparams.probe_lr, "weight_decay": 0.0},
        ]
        optimizer = self.optimizer_factory(groups)
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}
