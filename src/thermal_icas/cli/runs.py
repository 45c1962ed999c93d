"""The run-shaped commands: Hydra composes conf/<command>.yaml with the command line's overrides
(`key=value`, `group=option`, `-m` for a sweep, `--help`) and the task writes a run folder.

The config stops here: each task reads the settings it needs and hands typed values on.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from thermal_icas.core.errors import ConfigError, user_error
from thermal_icas.train.config import project_root

Task = Callable[[DictConfig], Any]


def run_hydra(
    config_name: str, task: Task, argv: Sequence[str], prog: str, run_folder: bool = True
) -> Any:
    """`task` under Hydra with `argv`'s overrides. With `run_folder`, the folder is settled
    first (a fresh one, or the crashed run's own for `resume=`), as `prepare_run_argv` says."""
    from thermal_icas.train.run_folder import prepare_run_argv

    sys.argv = [prog, *argv]
    if run_folder:
        try:
            sys.argv = prepare_run_argv(sys.argv, config_name, resumable=config_name == "train")
        except ConfigError as error:
            raise SystemExit(f"error: {error}") from None
    conf = str(project_root() / "conf")
    return hydra.main(version_base="1.3", config_path=conf, config_name=config_name)(task)()


def device(setting: str) -> str:
    """`auto`: the GPU when there is one."""
    import torch

    if setting != "auto":
        return setting
    return "cuda" if torch.cuda.is_available() else "cpu"


def exit_on_user_error(error: Exception) -> None:
    """A user's mistake (data, settings) ends the command with one line naming it; the caller
    re-raises anything else with its traceback."""
    if (cause := user_error(error)) is not None:
        raise SystemExit(f"error: {cause}") from None


def _route_lightning_logs_to_hydra() -> None:
    """Lightning installs console handlers of its own; beside Hydra's, every line shows twice."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def train(cfg: DictConfig) -> float | None:
    """Returns val/patient/auroc, which `hydra/sweeper=tune` maximises; None for a failed job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from thermal_icas.core.errors import record_failure
    from thermal_icas.core.memory import out_of_memory
    from thermal_icas.train.config import step_sizes
    from thermal_icas.train.ddp_jobs import ddp_job, relaunch_ddp_processes_in_their_job
    from thermal_icas.train.pipeline import run, sweep_objective

    _route_lightning_logs_to_hydra()
    relaunch_ddp_processes_in_their_job()
    try:
        with ddp_job():
            return sweep_objective(run(cfg))
    except Exception as error:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            # in a sweep one broken job must not stop the others: it is logged and marked
            # failed, and its None is a failed trial to Optuna
            record_failure(cfg.paths.output_dir, error)
            return None
        exit_on_user_error(error)
        if (memory := out_of_memory(error, step_sizes(cfg))) is not None:
            raise SystemExit(f"error: {memory}") from None
        raise


def predict(cfg: DictConfig) -> None:
    from thermal_icas.analysis.inference import predict as predict_images
    from thermal_icas.analysis.trained_run import load_run

    try:
        run = load_run(cfg.ckpt_path, device(cfg.device))
        output_dir = Path(cfg.paths.output_dir)
        target = predict_images(run, cfg.input, output_dir, cfg.batch_size, explain=cfg.explain)
    except Exception as error:
        exit_on_user_error(error)
        raise
    print(f"predictions: {target}")


def export(cfg: DictConfig) -> None:
    from thermal_icas.analysis.export import check_format, export_run
    from thermal_icas.analysis.trained_run import load_run

    try:
        check_format(cfg.format)
        target = export_run(load_run(cfg.ckpt_path), Path(cfg.paths.output_dir), cfg.format)
    except Exception as error:
        exit_on_user_error(error)
        raise
    print(f"model: {target}")


def validate(cfg: DictConfig) -> None:
    from thermal_icas.analysis.console import print_metrics_table
    from thermal_icas.analysis.trained_run import load_run
    from thermal_icas.analysis.validation import validate as validate_run

    output_dir = Path(cfg.paths.output_dir)
    try:
        run = load_run(cfg.ckpt_path, device(cfg.device))
        metrics = validate_run(
            run,
            cfg.data_dir,
            output_dir,
            cfg.batch_size,
            cfg.recalibrate,
            Path(cfg.paths.cache_dir),
        )
    except Exception as error:
        exit_on_user_error(error)
        raise
    print_metrics_table(metrics)
    print(f"report: {output_dir / 'report.html'}")
