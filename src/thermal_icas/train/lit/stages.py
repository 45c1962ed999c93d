"""Each stage's LightningModule and Trainer, composed from the run config (`_target_` nodes in
`conf/training`, `conf/trainer`, `conf/callbacks`) and what only the data can tell."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig

from thermal_icas.core.models.encoder import ThermalEncoder, explain_layer
from thermal_icas.core.models.heads import ThermalClassifier
from thermal_icas.train.datamodule import ThermalData
from thermal_icas.train.lit.classifier import ClassifierModule
from thermal_icas.train.lit.contrastive import ContrastiveModule
from thermal_icas.train.lit.test_reports import TestReport


def contrastive_module(
    cfg: DictConfig, data: ThermalData, encoder: ThermalEncoder
) -> ContrastiveModule:
    return instantiate(cfg.training.contrastive.module)(
        encoder=encoder, device_batches=data.device_batches()
    )


def classifier_module(
    cfg: DictConfig,
    data: ThermalData,
    encoder: ThermalEncoder,
    clinical: torch.Tensor | None = None,
) -> ClassifierModule:
    """Stage 2 as configured, on a set-up dataset; `clinical` (clinical=fused) holds each image
    row's clinical features, joined to the image features before the head."""
    assert data.classes is not None
    width = 0 if clinical is None else clinical.shape[1]
    classifier = ThermalClassifier(
        encoder, len(data.classes.names), cfg.model.dropout, width, cfg.model.get("tta_flip", False)
    )
    return instantiate(cfg.training.finetune.module)(
        classifier=classifier,
        clinical=clinical,
        class_weights=data.class_weights(),
        positive_index=data.classes.positive_index,
        backbone_lr_scale=backbone_lr_scale(cfg),
        explain_layer=explain_layer(
            cfg.explain.layer, cfg.data.image_size, encoder.trunk.reductions
        ),
        device_batches=data.device_batches(),
    )


def backbone_lr_scale(cfg: DictConfig) -> float:
    """`auto`: 0.1 for a trunk that starts from learned weights (stage 1, a saved encoder,
    `model.pretrained`), 1.0 for one that starts from scratch, which has everything to learn."""
    scale = cfg.training.finetune.backbone_lr_scale
    if scale != "auto":
        return float(scale)
    learned = (
        not cfg.training.skip_contrastive
        or bool(cfg.training.encoder_ckpt)
        or str(cfg.model.pretrained) != "none"
    )
    return 0.1 if learned else 1.0


def stage_trainer(
    cfg: DictConfig,
    stage: str,
    epochs: int,
    loggers: list[Logger],
    extra: Sequence[Callback] = (),
) -> L.Trainer:
    """The stage's trainer (`contrastive` or `classifier`, whose callbacks include the test's)
    with the callbacks of `conf/callbacks`: `common`, the stage's own and `extra`."""
    groups = ("common", stage)
    options = {}
    if cfg.trainer.get("sync_batchnorm") and not _on_gpu(cfg):
        # SyncBatchNorm exists for CUDA only; CPU processes (gloo) keep per-process statistics
        options["sync_batchnorm"] = False
    return instantiate(
        cfg.trainer,
        max_epochs=epochs,
        callbacks=[*_callbacks(cfg, groups), *extra],
        logger=loggers or False,
        **options,
    )


def evaluation_trainer(
    cfg: DictConfig, trainer: L.Trainer, loggers: list[Logger]
) -> L.Trainer | None:
    """What evaluates after a fit: its own trainer on one process, or after DDP a new
    single-device trainer of the same kind on rank 0 (None on the other ranks, which are
    done), so that the threshold and the test see every val and test image once."""
    if trainer.world_size == 1:
        return trainer
    trainer.strategy.barrier()
    torch.distributed.destroy_process_group()
    if not trainer.is_global_zero:
        return None
    return instantiate(
        cfg.trainer,
        strategy="auto",
        devices=1,
        num_nodes=1,
        sync_batchnorm=False,
        max_epochs=1,
        callbacks=_callbacks(cfg, ("common",)),
        logger=loggers or False,
    )


def test_reports(cfg: DictConfig) -> list[TestReport]:
    """The files the test leaves in the run folder (`callbacks.test`)."""
    return instantiate_all(cfg.callbacks.get("test"))


def instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a group; null entries switch one off."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node is not None and "_target_" in node]


def _callbacks(cfg: DictConfig, groups: Sequence[str]) -> list[Callback]:
    return [c for group in groups for c in instantiate_all(cfg.callbacks.get(group))]


def _on_gpu(cfg: DictConfig) -> bool:
    accelerator = cfg.trainer.get("accelerator", "auto")
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
