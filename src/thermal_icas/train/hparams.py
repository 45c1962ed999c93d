"""TensorBoard HParams entries whose metrics are the run's real test metrics, and the same
run in MLflow: its composed config as params and every number of metrics.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lightning.pytorch.loggers import Logger, MLFlowLogger, TensorBoardLogger
from omegaconf import DictConfig, OmegaConf

# the metrics the HParams tab compares runs by
HPARAM_METRICS = (
    "test/auroc",
    "test/auprc",
    "test/balanced_acc",
    "test/sensitivity",
    "test/specificity",
    "test/f1",
    "test/patient/auroc",
    "test/patient/balanced_acc",
    "test/attention/in_face",
    "val/auroc_best",
)


def run_levers(cfg: DictConfig) -> dict[str, object]:
    """The settings a sweep varies, flat, under short names the HParams tab can show."""
    attention, asymmetry = cfg.attention, cfg.asymmetry
    return {
        "mask": cfg.mask.method._target_.rsplit(".", 1)[-1],
        "mask_background": str(cfg.mask.background_value),
        "attention": attention is not None,
        "attention_layer": str(attention.layer) if attention else "none",
        "asymmetry": asymmetry is not None,
        "asymmetry_fusion": str(asymmetry.fusion) if asymmetry else "none",
        "asymmetry_align": str(asymmetry.align) if asymmetry else "none",
        "loss": cfg.loss._target_.rsplit(".", 1)[-1],
        "backbone": str(cfg.model.backbone),
        "pretrained": str(cfg.model.pretrained),
        "image_size": int(cfg.data.image_size),
        "finetune_mode": str(cfg.training.finetune.mode),
        "skip_contrastive": bool(cfg.training.skip_contrastive),
        "seed": int(cfg.seed),
        "fold": int(cfg.data.fold) if cfg.data.num_folds else -1,
    }


def log_hparams(loggers: Sequence[Logger], cfg: DictConfig, metrics: Mapping[str, float]) -> None:
    """Written after the test, so the entry carries measured values, not a placeholder."""
    values = {key: metrics[key] for key in HPARAM_METRICS if key in metrics}
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(run_levers(cfg), metrics=values)
        elif isinstance(logger, MLFlowLogger):
            # flattened by the logger: `data/image_size`, `model/backbone`, ...
            logger.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
            logger.log_metrics(dict(metrics))
        else:
            continue
        logger.finalize("success")
