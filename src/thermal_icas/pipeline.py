"""One run: contrastive pretraining, fine-tuning, threshold on val, test on held-out patients."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import Logger, TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from thermal_icas import run_files
from thermal_icas.asymmetry import side_metrics
from thermal_icas.data.preprocess import write_skipped
from thermal_icas.data.thermal_data import ThermalData
from thermal_icas.errors import ConfigError
from thermal_icas.evaluation import EvalSettings, Scores, evaluate
from thermal_icas.evaluation.thresholds import youden_threshold
from thermal_icas.explain.maps import check_method
from thermal_icas.explain.report import write_explanations
from thermal_icas.explain.shortcut import mean_background_effect, shortcut_alarm
from thermal_icas.lit.classifier import ClassifierModule
from thermal_icas.lit.contrastive import ContrastiveModule
from thermal_icas.lit.probe import ProbeCallback
from thermal_icas.models.checkpoint import load_encoder, save_encoder
from thermal_icas.models.encoder import ThermalEncoder, explain_layer
from thermal_icas.models.heads import ThermalClassifier
from thermal_icas.reporting.console import print_config_tree, print_metrics_table
from thermal_icas.reporting.contact_sheet import contact_sheet
from thermal_icas.reporting.hparams import log_hparams
from thermal_icas.reporting.plots import plot_confusion, plot_roc
from thermal_icas.reporting.results import write_metrics, write_predictions, write_run_info
from thermal_icas.resume import RngState, load_rng, save_rng, set_rng_state
from thermal_icas.run_folder import refuse_finished, running_in

log = logging.getLogger(__name__)

# masked inputs shown once per run in TensorBoard
SHEET_IMAGES = 8
# smallest side of the trunk's input (a whole face or one half of it)
MIN_INPUT_SIDE = 16


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
    resuming = bool(cfg.get("resume"))
    if rank_zero_only.rank == 0:
        print_config_tree(cfg)
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    L.seed_everything(cfg.seed, workers=True)
    check_image_size(cfg)
    check_explain(cfg)

    data: ThermalData = instantiate(cfg.data)
    data.setup()
    if rank_zero_only.rank == 0:
        data.write_splits(output_dir / run_files.SPLITS)
        if data.skipped:
            write_skipped(output_dir / run_files.SKIPPED, data.skipped)
    loggers = _instantiate_all(cfg.get("logger"))
    metrics: dict[str, float] = log_data_summary(data, loggers)

    encoder: ThermalEncoder = instantiate(cfg.model.encoder)
    if cfg.training.encoder_ckpt:
        load_encoder(encoder, cfg.training.encoder_ckpt)
    if not cfg.training.skip_contrastive:
        if resuming and (output_dir / run_files.ENCODER).is_file():
            log.info("Resuming: stage 1 had finished; its encoder is reloaded")
            load_encoder(encoder, output_dir / run_files.ENCODER)
            metrics.update(json.loads((output_dir / run_files.STAGE1_METRICS).read_text()))
        else:
            stage1 = pretrain(cfg, data, encoder, loggers, _resume_from(cfg, "contrastive"))
            metrics.update(stage1)
            if rank_zero_only.rank == 0:
                (output_dir / run_files.STAGE1_METRICS).write_text(json.dumps(stage1))
                # where stage 2 starts, for a run that crashes before its first checkpoint
                save_rng(output_dir / run_files.STAGE2_RNG)
                # last, in one step: the encoder file marks stage 1 as finished for a resume
                save_encoder(encoder, output_dir / run_files.ENCODER)
    resume_from = _resume_from(cfg, "classifier")
    if resuming and resume_from is None and (output_dir / run_files.STAGE2_RNG).is_file():
        load_rng(output_dir / run_files.STAGE2_RNG)
    classifier, results = finetune_and_test(cfg, data, encoder, loggers, resume_from)
    metrics.update(results)

    if rank_zero_only.rank == 0:
        metrics["run/threads"] = float(torch.get_num_threads())
        metrics["run/backbone_lr_scale"] = backbone_lr_scale(cfg)
        write_run_info(output_dir / run_files.RUN_INFO)
        write_metrics(output_dir / run_files.METRICS, metrics)
        log_hparams(loggers, cfg, metrics)
        print_metrics_table(metrics)
    return classifier, metrics


def check_image_size(cfg: DictConfig) -> None:
    """A ResNet shrinks its input 32-fold; below 16 px a side even layer3's map is a single
    position, nothing left to explain. Each half of an asymmetry input is half as wide."""
    size = cfg.data.image_size
    halves = cfg.asymmetry.fusion != "none"
    width = size // 2 if halves else size
    if min(size, width) < MIN_INPUT_SIDE:
        smallest = 2 * MIN_INPUT_SIDE if halves else MIN_INPUT_SIDE
        raise ConfigError(
            f"data.image_size={size} is too small for model.backbone={cfg.model.backbone}: the "
            f"model input ({size} x {width}) needs at least {MIN_INPUT_SIDE} px on each side; "
            f"use data.image_size={smallest} or more"
        )


def check_explain(cfg: DictConfig) -> None:
    """`explain.layer` and `explain.method` are read after training: check them before it."""
    explain_layer(cfg.explain.layer, cfg.data.image_size)
    check_method(cfg.explain.method)


def log_data_summary(data: ThermalData, loggers: list[Logger]) -> dict[str, float]:
    """Mask coverage and fallbacks per split, and a sheet of masked inputs, once per run."""
    summary = {}
    for split in ("train", "val", "test"):
        for name, value in data.mask_stats(split).items():
            summary[f"data/{name}/{split}"] = value
    summary["data/mask_coverage"] = float(data.mask_coverage.mean())
    summary["data/mask_fallbacks"] = float(data.mask_fallback.sum())
    summary["data/skipped_images"] = float(len(data.skipped))
    boards = [lg for lg in loggers if isinstance(lg, TensorBoardLogger)]
    if boards and rank_zero_only.rank == 0:
        sample = [record.path for record in data.records("val")[:SHEET_IMAGES]]
        sheet = contact_sheet(sample, data.mask, data.background())
        for board in boards:
            board.experiment.add_image("data/masked_inputs", sheet, 0, dataformats="HWC")
    for lg in loggers:
        lg.log_metrics(summary, step=0)
    kept = ("data/mask_coverage", "data/mask_fallbacks", "data/skipped_images")
    return {key: summary[key] for key in kept}


def _resume_from(cfg: DictConfig, stage: str) -> str | None:
    """The stage's last checkpoint when resuming, so it continues after its last epoch."""
    checkpoint = cfg.callbacks.get(stage, {}).get("checkpoint")
    if not cfg.get("resume") or checkpoint is None:
        return None
    found = run_files.last_checkpoint(cfg.paths.output_dir, stage)
    if found:
        log.info("Resuming %s training from %s", stage, found)
    return None if found is None else str(found)


def pretrain(
    cfg: DictConfig,
    data: ThermalData,
    encoder: ThermalEncoder,
    loggers: list[Logger],
    resume_from: str | None = None,
) -> dict[str, float]:
    """Stage 1 trains on the training split only; the probes read frozen features of the
    training and val images to score the encoder and train nothing in it."""
    stage = cfg.training.contrastive
    assert data.classes is not None
    module = ContrastiveModule(
        encoder=encoder,
        loss=instantiate(cfg.loss),
        optimizer=instantiate(stage.optimizer),
        scheduler=instantiate(stage.scheduler) if stage.get("scheduler") else None,
        projection_dim=cfg.model.projection_dim,
        device_batches=data.device_batches(),
    )
    probe = ProbeCallback(
        train_loader=data.loader("train", batch_size=stage.batch_size, train=False),
        val_loader=data.loader("val", batch_size=stage.batch_size, train=False),
        patients=[record.patient for record, _ in data.rows],
        positive_index=data.classes.positive_index,
        every=stage.probe_every,
        knn_k=stage.knn_k,
    )
    trainer = _trainer(cfg, stage.epochs, "contrastive", loggers, [probe])
    trainer.fit(
        module,
        train_dataloaders=data.loader(
            "train",
            batch_size=stage.batch_size,
            train=True,
            views=2,
            processes=trainer.world_size,
        ),
        ckpt_path=resume_from,
    )
    # a fit resumed from its last epoch's checkpoint runs no epoch but still draws (a new loader
    # iterator); stage 2 starts from the generators' state at that checkpoint, as it does after
    # an uninterrupted stage 1, whose last checkpoint is its end
    saved = next((c.last for c in trainer.callbacks if isinstance(c, RngState)), None)
    if saved is not None:
        set_rng_state(saved)
    return probe.results


def classifier_module(
    cfg: DictConfig, data: ThermalData, encoder: ThermalEncoder
) -> ClassifierModule:
    """Stage 2 as configured, on a set-up dataset."""
    stage = cfg.training.finetune
    assert data.classes is not None
    return ClassifierModule(
        classifier=ThermalClassifier(encoder, len(data.classes.names), cfg.model.dropout),
        optimizer=instantiate(stage.optimizer),
        scheduler=instantiate(stage.scheduler) if stage.get("scheduler") else None,
        class_weights=data.class_weights(),
        positive_index=data.classes.positive_index,
        mode=stage.mode,
        backbone_lr_scale=backbone_lr_scale(cfg),
        focus_metrics=cfg.explain.focus_metrics,
        explain_layer=explain_layer(cfg.explain.layer, cfg.data.image_size),
        explain_method=cfg.explain.method,
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


def finetune_and_test(
    cfg: DictConfig,
    data: ThermalData,
    encoder: ThermalEncoder,
    loggers: list[Logger],
    resume_from: str | None = None,
) -> tuple[ThermalClassifier, dict[str, float]]:
    stage = cfg.training.finetune
    module = classifier_module(cfg, data, encoder)
    trainer = _trainer(cfg, stage.epochs, "classifier", loggers)
    trainer.fit(
        module,
        train_dataloaders=data.loader(
            "train", batch_size=stage.batch_size, train=True, processes=trainer.world_size
        ),
        val_dataloaders=data.loader("val", batch_size=stage.batch_size, train=False),
        ckpt_path=resume_from,
    )
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
        trainer = _evaluation_trainer(cfg, loggers)

    val, _, _ = _predict(trainer, module, data, "val", stage.batch_size, best)
    module.decision_threshold = youden_threshold(val.scores, val.labels)
    test_loader = data.loader("test", batch_size=stage.batch_size, train=False)
    (results,) = trainer.test(module, test_loader, ckpt_path=best, verbose=False)
    metrics = {key: float(value) for key, value in results.items()}
    if checkpoint.best_model_score is not None:
        metrics["val/auroc_best"] = float(checkpoint.best_model_score)

    if rank_zero_only.rank == 0:
        test, indices, sides = _predict(trainer, module, data, "test", stage.batch_size, best)
        assert data.classes is not None
        names = (data.classes.negative, data.classes.positive)
        settings: EvalSettings = instantiate(cfg.eval)
        output_dir = Path(cfg.paths.output_dir)
        metrics.update(evaluate(val, test, module.decision_threshold, settings, output_dir, names))
        _write_test_reports(cfg, module, data, test, indices, sides, metrics)
    return module.model, metrics


def _write_test_reports(
    cfg: DictConfig,
    module: ClassifierModule,
    data: ThermalData,
    test: Scores,
    indices: list[int],
    sides: list[float] | None,
    metrics: dict[str, float],
) -> None:
    assert data.classes is not None
    output_dir = Path(cfg.paths.output_dir)
    threshold = metrics["test/threshold"]
    records = [data.rows[i][0] for i in indices]
    probs = test.scores.tolist()
    if sides is not None:
        positive = [r.label == data.classes.positive_index for r in records]
        paths, patients = [r.path for r in records], [r.patient for r in records]
        metrics.update(side_metrics(paths, patients, positive, sides))
    if cfg.explain.focus_metrics:
        loader = data.loader("test", batch_size=cfg.training.finetune.batch_size, train=False)
        fill = (data.background() - np.asarray(data.mean)) / np.asarray(data.std)
        metrics.update(
            mean_background_effect(module.model, loader, fill, data.classes.positive_index)
        )
    shortcut_alarm(metrics, cfg.explain.min_in_face_lift, cfg.explain.max_background_effect)
    write_predictions(
        output_dir / run_files.TEST_PREDICTIONS, records, probs, threshold, data.classes, sides
    )
    targets = torch.as_tensor(test.labels)
    plot_roc(
        torch.as_tensor(test.scores),
        targets,
        metrics["test/auroc"],
        threshold,
        output_dir / run_files.ROC,
    )
    positive, negative = data.classes.positive, data.classes.negative
    tn, fp, fn, tp = (int(metrics[f"test/{k}"]) for k in ("tn", "fp", "fn", "tp"))
    plot_confusion([[tp, fn], [fp, tn]], [positive, negative], output_dir / run_files.CONFUSION)
    write_explanations(
        output_dir / run_files.EXPLAIN_DIR,
        module.model,
        data.dataset("test", train=False),
        indices,
        records,
        probs,
        threshold,
        data.classes,
        *module.explain_spec,
        cfg.explain.examples_per_group,
        cfg.explain.tile,
    )


def _predict(
    trainer: L.Trainer,
    module: ClassifierModule,
    data: ThermalData,
    split: str,
    batch_size: int,
    ckpt_path: str | None,
) -> tuple[Scores, list[int], list[float] | None]:
    """A split's positive-class probabilities with each image's patient and target (as
    trained: permuted in a null run's val split), the images' row indices, and for the
    asymmetry arms (test split only) the side each image is blamed on."""
    loader = data.loader(split, batch_size=batch_size, train=False)
    module.predict_sides = split == "test"
    outputs = trainer.predict(module, loader, ckpt_path=ckpt_path)
    assert outputs is not None
    probs, targets, index = (
        torch.cat([o[key] for o in outputs]).cpu() for key in ("prob", "target", "index")
    )
    indices = index.tolist()
    patients = [data.rows[i][0].patient for i in indices]
    sides = torch.cat([o["side"] for o in outputs]).tolist() if "side" in outputs[0] else None
    return Scores.of_images(patients, targets.tolist(), probs.double().tolist()), indices, sides


def _trainer(
    cfg: DictConfig,
    epochs: int,
    stage: str,
    loggers: list[Logger],
    extra_callbacks: Sequence[Callback] = (),
) -> L.Trainer:
    callbacks: list[Callback] = _instantiate_all(cfg.callbacks.get("common"))
    callbacks += [*_instantiate_all(cfg.callbacks.get(stage)), *extra_callbacks]
    extra = {}
    if cfg.trainer.get("sync_batchnorm") and not _on_gpu(cfg):
        # SyncBatchNorm exists for CUDA only; CPU processes (gloo) keep per-process statistics
        extra["sync_batchnorm"] = False
    return instantiate(
        cfg.trainer, max_epochs=epochs, callbacks=callbacks, logger=loggers or False, **extra
    )


def _evaluation_trainer(cfg: DictConfig, loggers: list[Logger]) -> L.Trainer:
    """A single-device trainer of the same kind, for threshold selection and the test."""
    return instantiate(
        cfg.trainer,
        strategy="auto",
        devices=1,
        num_nodes=1,
        sync_batchnorm=False,
        max_epochs=1,
        callbacks=_instantiate_all(cfg.callbacks.get("common")),
        logger=loggers or False,
    )


def _on_gpu(cfg: DictConfig) -> bool:
    accelerator = cfg.trainer.get("accelerator", "auto")
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def _instantiate_all(group: DictConfig | None) -> list[Any]:
    """Instantiate every `_target_` entry of a group; null entries switch one off."""
    if not group:
        return []
    return [instantiate(node) for node in group.values() if node is not None and "_target_" in node]
