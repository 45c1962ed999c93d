"""Stage 2: fine-tune (or linearly probe) the encoder as an ICAS classifier."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from thermal_icas.core.data.device_batches import DeviceBatches
from thermal_icas.core.errors import ConfigError
from thermal_icas.core.evaluation.patients import Scores
from thermal_icas.core.explain import FocusMetrics, explain_batch
from thermal_icas.core.models.heads import ThermalClassifier
from thermal_icas.train.lit.base import TrainingMeansModule
from thermal_icas.train.lit.metrics import finalize, screening_metrics

FINETUNE_MODES = ("full", "linear")


# the prediction pass's loaders, in order: val (the threshold) and test
PREDICTED_SPLITS = ("val", "test")


@dataclass(frozen=True)
class TestImages:
    """A split's per-image predictions from the prediction pass on the tested checkpoint: what
    the threshold, the test's metrics and the test reports read."""

    scores: Scores
    # the images' row indices in the run's data
    indices: list[int]
    # the side each image is blamed on, for the asymmetry arms
    sides: list[float] | None


class ClassifierModule(TrainingMeansModule):
    """Class-weighted cross-entropy on the classifier; metrics on the positive-class probability.

    `mode="linear"` freezes the encoder and keeps it in eval mode for good, so its BatchNorm
    statistics cannot drift; `mode="full"` trains it with a smaller learning rate than the head.
    With `focus_metrics`, val and test batches that carry face regions are also explained
    (class map at `explain_layer`, gate map) and scored by `<stage>/attention/*` focus
    metrics.
    The attention gate is part of the encoder and trains at the trunk's learning rate: at the
    head's (10x) rate it outran the features it weights.
    """

    def __init__(
        self,
        classifier: ThermalClassifier,
        optimizer: Callable[..., Optimizer],
        class_weights: Sequence[float],
        positive_index: int,
        scheduler: Callable[..., Any] | None = None,
        mode: str = "full",
        backbone_lr_scale: float = 0.1,
        focus_metrics: bool = True,
        explain_layer: str = "layer4",
        explain_method: str = "hirescam",
        device_batches: DeviceBatches | None = None,
        clinical: Tensor | None = None,
    ) -> None:
        super().__init__()
        if mode not in FINETUNE_MODES:
            raise ConfigError(f"training.finetune.mode='{mode}' must be one of {FINETUNE_MODES}")
        self.save_hyperparameters(
            ignore=["classifier", "optimizer", "scheduler", "device_batches", "clinical"]
        )
        self.device_batches = device_batches
        # clinical=fused: each image row's clinical features, looked up by the batch's indices
        self.register_buffer("clinical", clinical, persistent=False)
        self.model = classifier
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.criterion = nn.CrossEntropyLoss(weight=torch.tensor(list(class_weights)))
        self.val_metrics = screening_metrics().clone(prefix="val/")
        self.val_focus = FocusMetrics("val/attention/")
        self.test_focus = FocusMetrics("test/attention/")
        if mode == "linear":
            self.model.encoder.requires_grad_(False)
            self.model.encoder.eval()

    @property
    def explain_spec(self) -> tuple[str, str]:
        """`explain_batch`'s layer and method."""
        return self.hparams.explain_layer, self.hparams.explain_method

    @property
    def prior_shift(self) -> float:
        """log(w_pos / w_neg): how far the class weights moved every logit in training."""
        weights = self.hparams.class_weights
        positive = self.hparams.positive_index
        return math.log(weights[positive] / weights[1 - positive])

    @property
    def frozen_encoder(self) -> bool:
        return self.hparams.mode == "linear"

    def train(self, mode: bool = True) -> ClassifierModule:
        super().train(mode)
        if self.frozen_encoder:
            self.model.encoder.eval()
        return self

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Training batches shipped as indices are assembled and augmented here, on the device."""
        if self.device_batches is not None and DeviceBatches.assembles(batch):
            (batch["image"],), batch["label"] = self.device_batches(batch["index"])
        return batch

    def forward(self, x: Tensor, clinical: Tensor | None = None) -> Tensor:
        return self.model(x, clinical)

    def clinical_of(self, batch: dict[str, Any]) -> Tensor | None:
        """The clinical features of the batch's images (clinical=fused), else None."""
        return None if self.clinical is None else self.clinical[batch["index"].to(self.device)]

    def positive_probability(self, logits: Tensor) -> Tensor:
        return logits.float().softmax(-1)[:, self.hparams.positive_index]

    def _targets(self, labels: Tensor) -> Tensor:
        return (labels == self.hparams.positive_index).long()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor:
        logits = self(batch["image"], self.clinical_of(batch))
        loss = self.criterion(logits, batch["label"])
        accuracy = (logits.argmax(-1) == batch["label"]).float().mean()
        self.train_means.update({"train/loss": loss, "train/acc": accuracy}, len(logits))
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        logits = self._evaluate(batch, self.val_focus)
        loss = self.criterion(logits, batch["label"])
        self.log(
            "val/loss", loss, on_epoch=True, batch_size=batch["label"].shape[0], sync_dist=True
        )
        self.val_metrics.update(self.positive_probability(logits), self._targets(batch["label"]))

    def _evaluate(self, batch: dict[str, Any], focus: FocusMetrics) -> Tensor:
        """The batch's logits. With focus metrics they come from the pass that explains the
        batch, which runs the model anyway, so each batch goes through the model once."""
        clinical = self.clinical_of(batch)
        if not (self.hparams.focus_metrics and "face" in batch):
            return self(batch["image"], clinical)
        maps = explain_batch(self.model, batch["image"], *self.explain_spec, clinical)
        focus.update(maps, batch["face"])
        return maps.logits

    def _log_focus(self, focus: FocusMetrics) -> None:
        if not self.hparams.focus_metrics:
            return
        self.log_dict({key: float(value) for key, value in focus.compute().items()})
        focus.reset()

    def on_validation_epoch_end(self) -> None:
        values = finalize(self.val_metrics.compute(), "val/")
        self.log("val/auroc", values.pop("val/auroc"), prog_bar=True)
        self.log_dict(values)
        self.val_metrics.reset()
        self._log_focus(self.val_focus)

    def take_test_focus(self) -> dict[str, float]:
        """The test batches' focus metrics (`test/attention/*`) since the last take."""
        if not self.hparams.focus_metrics:
            return {}
        values = {key: float(value) for key, value in self.test_focus.compute().items()}
        self.test_focus.reset()
        return values

    def predict_step(
        self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0
    ) -> dict[str, Tensor]:
        """Probabilities of the prediction pass (`PREDICTED_SPLITS`). Test batches are explained
        in the same forward pass where the run measures focus (`test/attention/*`, kept in
        `test_focus`) or blames a side (the asymmetry arms: `side`)."""
        out = {"target": self._targets(batch["label"]), "index": batch["index"]}
        clinical = self.clinical_of(batch)
        sides = self.model.encoder.adapter.fusion != "none"
        focus = self.hparams.focus_metrics and "face" in batch
        if PREDICTED_SPLITS[dataloader_idx] != "test" or not (sides or focus):
            return {"prob": self.positive_probability(self(batch["image"], clinical)), **out}
        maps = explain_batch(self.model, batch["image"], *self.explain_spec, clinical)
        if focus:
            self.test_focus.update(maps, batch["face"])
        if sides:
            assert maps.side is not None
            out["side"] = maps.side
        return {"prob": self.positive_probability(maps.logits), **out}

    def configure_optimizers(self) -> Any:
        groups = [{"params": [*self.model.head.parameters()]}]
        if not self.frozen_encoder:
            groups.append({"params": [*self.model.encoder.parameters()]})
        optimizer = self.optimizer_factory(groups)
        if not self.frozen_encoder:
            optimizer.param_groups[1]["lr"] *= self.hparams.backbone_lr_scale
        if self.scheduler_factory is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": self.scheduler_factory(optimizer)}
