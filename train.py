"""Train and test an ICAS classifier: `python train.py [group=option ...] [key=value ...]`."""

import logging
import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("THERMAL_ICAS_ROOT", str(Path(__file__).resolve().parent))


def route_lightning_logs_to_hydra() -> None:
    """Lightning installs console handlers of its own; beside Hydra's, every line shows twice."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    """Returns val/patient/auroc, which `hydra/sweeper=tune` maximises; None for a failed job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from thermal_icas.ddp_jobs import ddp_job, relaunch_ddp_processes_in_their_job
    from thermal_icas.errors import record_failure, user_error
    from thermal_icas.memory import out_of_memory
    from thermal_icas.pipeline import run, sweep_objective

    route_lightning_logs_to_hydra()
    relaunch_ddp_processes_in_their_job(Path(__file__).resolve())

    try:
        with ddp_job():
            return sweep_objective(run(cfg))
    except Exception as error:
        if HydraConfig.get().mode == RunMode.MULTIRUN:
            # in a sweep one broken job must not stop the others: it is logged and marked
            # failed, and its None is a failed trial to Optuna
            record_failure(cfg.paths.output_dir, error)
            return None
        elif (cause := user_error(error)) is not None:
            # a problem with the data or settings: one line that names it, not a traceback
            raise SystemExit(f"error: {cause}") from None
        elif (memory := out_of_memory(error, cfg)) is not None:
            raise SystemExit(f"error: {memory}") from None
        else:
            raise


if __name__ == "__main__":
    from thermal_icas.errors import ConfigError
    from thermal_icas.run_folder import prepare_run_argv

    try:
        sys.argv = prepare_run_argv(sys.argv, "train")
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from None
    main()
