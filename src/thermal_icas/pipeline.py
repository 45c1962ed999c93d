"""One run: contrastive pretraining, fine-tuning, threshold on val, test on held-out patients.

What each part is and how it is configured lives elsewhere: the data (`ThermalData`), the
stages' modules and trainers (`lit.stages`), resuming (`resume`), the side outputs
(callbacks in `conf/callbacks`). This module tells the run's story in order.
"""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from thermal_icas import run_files
from thermal_icas.config import check_settings
from thermal_icas.data.preprocess import write_skipped
from thermal_icas.data.thermal_data import ThermalData
from thermal_icas.evaluation import EvalSettings, evaluate
from thermal_icas.evaluation.thresholds import youden_threshold
from thermal_icas.explain.shortcut import shortcut_alarm
from thermal_icas.lit.classifier import ClassifierModule
from thermal_icas.lit.probe import ProbeCallback
from thermal_icas.lit.stages import (
    backbone_lr_scale,
    classifier_module,
    contrastive_module,
    evaluation_trainer,
    instantiate_all,
    stage_trainer,
)
from thermal_icas.lit.testing import predict_split, where_it_looks
from thermal_icas.models.checkpoint import load_encoder
from thermal_icas.models.encoder import ThermalEncoder
from thermal_icas.models.heads import ThermalClassifier
from thermal_icas.reporting.console import print_config_tree, print_metrics_table
from thermal_icas.reporting.hparams import log_hparams
from thermal_icas.reporting.results import write_metrics, write_run_info
from thermal_icas.resume import (
    finished_stage_one,
    record_stage_one,
    restore_generators,
    restore_stage_two_start,
    resume_from,
)
from thermal_icas.run_folder import refuse_finished, running_in

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict[str, float]:
    """Train and test as configured; returns (and writes) the run's metrics."""
    return train_and_test(cfg)[1]


def train_and_test(cfg: DictConfig) -> tuple[ThermalClassifier, dict[str, float]]:
    """The whole run; returns the tested classifier (best checkpoint) and the metrics."""
    output_dir = Path(cfg.paths.output_dir)
    refuse_finished(output_dir)
    if rank_zero_only.rank != 0:
        return _train_and_test(cfg, output_dir)
    with running_in(output_dir):
        return _train_and_test(cfg, output_dir)


def _train_and_test(
    cfg: DictConfig, output_dir: Path
) -> tuple[ThermalClassifier, dict[str, float]]:
    if rank_zero_only.rank == 0:
        print_config_tree(cfg)
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    L.seed_everything(cfg.seed, workers=True)
    check_settings(cfg)

    data: ThermalData = instantiate(cfg.data)
    data.setup()
    if rank_zero_only.rank == 0:
        data.write_splits(output_dir / run_files.SPLITS)
        if data.skipped:
            write_skipped(output_dir / run_files.SKIPPED, data.skipped)
    loggers: list[Logger] = instantiate_all(cfg.get("logger"))
    summary = data.mask_summary()
    metrics = {k: summary[k] for k in ("data/mask_coverage", "data/mask_fallbacks")}
    metrics["data/skipped_images"] = summary["data/skipped_images"]

    encoder: ThermalEncoder = instantiate(cfg.model.encoder)
    if cfg.training.encoder_ckpt:
        load_encoder(encoder, cfg.training.encoder_ckpt)
    if not cfg.training.skip_contrastive:
        stage1 = finished_stage_one(cfg, encoder)
        if stage1 is None:
            stage1 = pretrain(cfg, data, encoder, loggers)
            if rank_zero_only.rank == 0:
                record_stage_one(output_dir, stage1, encoder)
        metrics.update(stage1)
    restore_stage_two_start(cfg)
    classifier, results = finetune_and_test(cfg, data, encoder, loggers)
    metrics.update(results)

    if rank_zero_only.rank == 0:
        metrics["run/threads"] = float(torch.get_num_threads())
        metrics["run/backbone_lr_scale"] = backbone_lr_scale(cfg)
        write_run_info(output_dir / run_files.RUN_INFO)
        write_metrics(output_dir / run_files.METRICS, metrics)
        log_hparams(loggers, cfg, metrics)
        print_metrics_table(metrics)
    return classifier, metrics


def pretrain(
    cfg: DictConfig, data: ThermalData, encoder: ThermalEncoder, loggers: list[Logger]
) -> dict[str, float]:
    """Stage 1 trains on the training split only; the probes read frozen features of the
    training and val images to score the encoder and train nothing in it."""
    stage = cfg.training.contrastive
    assert data.classes is not None
    data.for_stage(stage.batch_size, views=2)
    module = contrastive_module(cfg, data, encoder)
    probe = ProbeCallback(
        train_loader=data.loader("train"),
        val_loader=data.loader("val"),
        patients=[record.patient for record, _ in data.rows],
        positive_index=data.classes.positive_index,
        every=stage.probe_every,
        knn_k=stage.knn_k,
    )
    trainer = stage_trainer(cfg, "contrastive", stage.epochs, loggers, [probe])
    trainer.fit(module, datamodule=data, ckpt_path=resume_from(cfg, "contrastive"))
    restore_generators(trainer)
    return probe.results


def finetune_and_test(
    cfg: DictConfig, data: ThermalData, encoder: ThermalEncoder, loggers: list[Logger]
) -> tuple[ThermalClassifier, dict[str, float]]:
    """Stage 2, then the test of its best checkpoint (by val AUROC)."""
    stage = cfg.training.finetune
    data.for_stage(stage.batch_size)
    module = classifier_module(cfg, data, encoder)
    trainer = stage_trainer(cfg, "classifier", stage.epochs, loggers)
    trainer.fit(module, datamodule=data, ckpt_path=resume_from(cfg, "classifier"))
    checkpoint = trainer.checkpoint_callback
    assert isinstance(checkpoint, ModelCheckpoint)
    best = checkpoint.best_model_path or None
    if best is None:
        log.warning("No best checkpoint was saved; testing the final weights")
    if trainer.world_size > 1:
        # evaluation sees every val and test image once: one process does it, on one device
        trainer.strategy.barrier()
        torch.distributed.destroy_process_group()
        if not trainer.is_global_zero:
            return module.model, {}
        trainer = evaluation_trainer(cfg, loggers)
    metrics = test(cfg, trainer, module, data, best)
    if checkpoint.best_model_score is not None:
        metrics["val/auroc_best"] = float(checkpoint.best_model_score)
    return module.model, metrics


def test(
    cfg: DictConfig,
    trainer: L.Trainer,
    module: ClassifierModule,
    data: ThermalData,
    ckpt_path: str | None,
) -> dict[str, float]:
    """The threshold chosen on val, then the test: per image, per patient, with intervals,
    and where the model looks. The test callbacks write their reports as the test ends."""
    val = predict_split(trainer, module, data, "val", ckpt_path)
    module.decision_threshold = youden_threshold(val.scores.scores, val.scores.labels)
    module.test_images = predict_split(trainer, module, data, "test", ckpt_path)
    (results,) = trainer.test(module, datamodule=data, ckpt_path=ckpt_path, verbose=False)
    metrics = {key: float(value) for key, value in results.items()}
    assert data.classes is not None
    names = (data.classes.negative, data.classes.positive)
    settings: EvalSettings = instantiate(cfg.eval)
    tested = module.test_images
    output_dir = Path(cfg.paths.output_dir)
    metrics.update(
        evaluate(val.scores, tested.scores, module.decision_threshold, settings, output_dir, names)
    )
    metrics.update(where_it_looks(cfg.explain, module, data, tested))
    shortcut_alarm(metrics, cfg.explain.min_in_face_lift, cfg.explain.max_background_effect)
    return metrics
