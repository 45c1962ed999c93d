"""Validate a trained run on a new labelled cohort, nothing fitted again:
`python validate.py ckpt_path=<run> data_dir=<folder with the run's class folders>`."""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("THERMAL_ICAS_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="validate")
def main(cfg: DictConfig) -> None:
    import torch

    from thermal_icas.errors import user_error
    from thermal_icas.reporting.console import print_metrics_table
    from thermal_icas.trained_run import load_run
    from thermal_icas.validation import validate

    device = "cuda" if cfg.device == "auto" and torch.cuda.is_available() else cfg.device
    device = "cpu" if device == "auto" else device
    try:
        run = load_run(cfg.ckpt_path, device)
        output_dir = Path(cfg.paths.output_dir)
        metrics = validate(
            run,
            cfg.data_dir,
            output_dir,
            cfg.batch_size,
            cfg.recalibrate,
            Path(cfg.paths.cache_dir),
        )
    except Exception as error:
        if (cause := user_error(error)) is None:
            raise
        raise SystemExit(f"error: {cause}") from None
    print_metrics_table(metrics)
    print(f"report: {output_dir / 'report.html'}")


if __name__ == "__main__":
    from thermal_icas.errors import ConfigError
    from thermal_icas.run_folder import prepare_run_argv

    try:
        sys.argv = prepare_run_argv(sys.argv, "validate", resumable=False)
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from None
    main()
