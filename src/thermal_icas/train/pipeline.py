"""One run: contrastive pretraining, fine-tuning, threshold on val, test on held-out patients.

What each part is and how it is configured lives elsewhere: the data (`ThermalData`), the
stages' modules and trainers (`lit.stages`), resuming (`resume`), the side outputs
(callbacks in `conf/callbacks`). This module tells the run's story in order.
"""

from __future__ import annotations

import json
import logging
import math
import platform
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from thermal_icas.analysis.console import print_config_tree, print_metrics_table
from thermal_icas.analysis.html_report import write_report
from thermal_icas.analysis.results import write_metrics
from thermal_icas.analysis.shift_test import score_shift
from thermal_icas.core import run_files
from thermal_icas.core.evaluation import EvalSettings
from thermal_icas.core.explain.shortcut import ShortcutChecks
from thermal_icas.core.models.checkpoint import load_encoder
from thermal_icas.core.models.encoder import ThermalEncoder
from thermal_icas.core.models.heads import ThermalClassifier
from thermal_icas.train import resume
from thermal_icas.train.config import check_settings, tables_of
from thermal_icas.train.datamodule import ThermalData
from thermal_icas.train.hparams import log_hparams
from thermal_icas.train.lit import stages
from thermal_icas.train.lit.probe import ProbeCallback
from thermal_icas.train.lit.testing import threshold_and_test
from thermal_icas.train.run_folder import refuse_finished, running_in

log = logging.getLogger(__name__)

# of the data summary, what metrics.json keeps (the per-split values go to the loggers)
DATA_METRICS = (
    "data/mask_coverage",
    "data/mask_fallbacks",
    "data/skipped_images",
    "data/off_palette_share",
    "data/duplicate_pairs",
    "data/acquisition_auroc",
    "data/acquisition_auroc_ci_low",
    "data/acquisition_auroc_ci_high",
)


# what a hyperparameter search maximises (hydra/sweeper=tune): chosen on val, never on test
OBJECTIVE = "val/patient/auroc"


def run(cfg: DictConfig) -> dict[str, float]:
    """Train and test as configured; returns (and writes) the run's metrics."""
    return train_and_test(cfg)[1]


def sweep_objective(metrics: dict[str, float]) -> float | None:
    """The run's OBJECTIVE, for a sweeper; None where it is missing (`eval.aggregate=none`)
    or NaN (a val split of one class). The Optuna sweeper (hydra-optuna-sweeper 1.3, optuna
    2.10) records a value `float()` rejects, as None, as a failed trial and goes on; a NaN it
    cannot record either way, and the sweep stops."""
    value = metrics.get(OBJECTIVE)
    return None if value is None or math.isnan(value) else float(value)


def train_and_test(cfg: DictConfig) -> tuple[ThermalClassifier | None, dict[str, float]]:
    """The whole run; returns the tested classifier (best checkpoint; None for the tables alone
    or the rule, which train no network) and the metrics."""
    output_dir = Path(cfg.paths.output_dir)
    refuse_finished(output_dir)
    if rank_zero_only.rank != 0:
        return _train_and_test(cfg, output_dir)
    with running_in(output_dir):
        return _train_and_test(cfg, output_dir)


def _train_and_test(
    cfg: DictConfig, output_dir: Path
) -> tuple[ThermalClassifier | None, dict[str, float]]:
    if rank_zero_only.rank == 0:
        print_config_tree(cfg)
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    L.seed_everything(cfg.seed, workers=True)
    check_settings(cfg)

    data: ThermalData = instantiate(cfg.data)
    data.setup()
    if rank_zero_only.rank == 0:
        data.write_splits(output_dir)
    loggers: list[Logger] = stages.instantiate_all(cfg.get("logger"))
    summary = data.mask_summary()
    metrics = {key: summary[key] for key in DATA_METRICS if key in summary}
    tables = tables_of(cfg)
    if tables.use in ("only", "rule"):
        classifier = None
        settings: EvalSettings = instantiate(cfg.eval)
        metrics.update(tables.run_alone(data, cfg.seed, settings, output_dir))
    else:
        features = tables.features(data, output_dir)
        covariates = None if features is None else features.per_image(data)
        classifier, results = train_on_images(cfg, data, loggers, covariates)
        metrics.update(results)
        metrics["run/backbone_lr_scale"] = stages.backbone_lr_scale(cfg)

    if rank_zero_only.rank == 0:
        metrics["run/threads"] = float(torch.get_num_threads())
        write_run_info(output_dir / run_files.RUN_INFO)
        write_metrics(output_dir / run_files.METRICS, metrics)
        if cfg.eval.get("shift_dir") and classifier is not None:
            metrics.update(score_shift(output_dir, cfg.eval.shift_dir, Path(cfg.paths.cache_dir)))
            write_metrics(output_dir / run_files.METRICS, metrics)
        log_hparams(loggers, cfg, metrics)
        print_metrics_table(metrics)
        log.info("Report: %s", write_report(output_dir))
    return classifier, metrics


def train_on_images(
    cfg: DictConfig,
    data: ThermalData,
    loggers: list[Logger],
    clinical: torch.Tensor | None = None,
) -> tuple[ThermalClassifier, dict[str, float]]:
    """Stage 1 (unless skipped), stage 2 and the test; `clinical` (clinical=fused) holds each
    image row's clinical features."""
    output_dir = Path(cfg.paths.output_dir)
    resuming = resume.Resume(output_dir, bool(cfg.get("resume")))
    metrics: dict[str, float] = {}
    encoder: ThermalEncoder = instantiate(cfg.model.encoder)
    if cfg.training.encoder_ckpt:
        load_encoder(encoder, cfg.training.encoder_ckpt)
    if not cfg.training.skip_contrastive:
        stage1 = resuming.finished_stage_one(encoder)
        if stage1 is None:
            stage1 = pretrain(cfg, data, encoder, loggers, resuming)
            if rank_zero_only.rank == 0:
                resume.record_stage_one(output_dir, stage1, encoder)
        metrics.update(stage1)
    resuming.restore_stage_two_start()
    classifier, results = finetune_and_test(cfg, data, encoder, loggers, resuming, clinical)
    metrics.update(results)
    return classifier, metrics


def pretrain(
    cfg: DictConfig,
    data: ThermalData,
    encoder: ThermalEncoder,
    loggers: list[Logger],
    resuming: resume.Resume,
) -> dict[str, float]:
    """Stage 1 trains on the training split only; the probes read frozen features of the
    training and val images to score the encoder and train nothing in it."""
    stage = cfg.training.contrastive
    assert data.classes is not None
    data.for_stage(stage.batch_size, views=2)
    module = stages.contrastive_module(cfg, data, encoder)
    probe = ProbeCallback(
        train_loader=data.loader("train"),
        val_loader=data.loader("val"),
        patients=[record.patient for record, _ in data.rows],
        positive_index=data.classes.positive_index,
        every=stage.probe_every,
        knn_k=stage.knn_k,
    )
    trainer = stages.stage_trainer(cfg, "contrastive", stage.epochs, loggers, [probe])
    trainer.fit(module, datamodule=data, ckpt_path=resuming.checkpoint("contrastive"))
    resume.restore_generators(trainer)
    return probe.results


def finetune_and_test(
    cfg: DictConfig,
    data: ThermalData,
    encoder: ThermalEncoder,
    loggers: list[Logger],
    resuming: resume.Resume,
    clinical: torch.Tensor | None = None,
) -> tuple[ThermalClassifier, dict[str, float]]:
    """Stage 2, then the test of its best checkpoint (by val AUROC)."""
    stage = cfg.training.finetune
    data.for_stage(stage.batch_size)
    module = stages.classifier_module(cfg, data, encoder, clinical)
    trainer = stages.stage_trainer(cfg, "classifier", stage.epochs, loggers)
    trainer.fit(module, datamodule=data, ckpt_path=resuming.checkpoint("classifier"))
    checkpoint = trainer.checkpoint_callback
    assert isinstance(checkpoint, ModelCheckpoint)
    best = checkpoint.best_model_path or None
    if best is None:
        log.warning("No best checkpoint was saved; testing the final weights")
    evaluator = stages.evaluation_trainer(cfg, trainer, loggers)
    if evaluator is None:
        return module.model, {}
    settings: EvalSettings = instantiate(cfg.eval)
    explain = cfg.explain
    checks = ShortcutChecks(
        explain.focus_metrics, explain.min_in_face_lift, explain.max_background_effect
    )
    output_dir = Path(cfg.paths.output_dir)
    reports = stages.test_reports(cfg)
    metrics = threshold_and_test(
        evaluator, module, data, best, settings, checks, output_dir, reports
    )
    if checkpoint.best_model_score is not None:
        metrics["val/auroc_best"] = float(checkpoint.best_model_score)
    return module.model, metrics


def run_info() -> dict[str, object]:
    """What a result depends on beyond the config: the order of floating-point sums changes
    with the thread count, and kernels change between versions."""
    return {
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "python": platform.python_version(),
        "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }


def write_run_info(path: Path) -> None:
    path.write_text(json.dumps(run_info(), indent=2) + "\n")
