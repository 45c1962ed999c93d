"""Predict with a trained run: `python predict.py ckpt_path=<run> input=<image or folder>`."""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("THERMAL_ICAS_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
def main(cfg: DictConfig) -> None:
    import torch

    from thermal_icas.errors import user_error
    from thermal_icas.inference import predict
    from thermal_icas.trained_run import load_run

    device = cfg.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        run = load_run(cfg.ckpt_path, device)
        target = predict(
            run, cfg.input, Path(cfg.paths.output_dir), cfg.batch_size, explain=cfg.explain
        )
    except Exception as error:
        if (cause := user_error(error)) is None:
            raise
        raise SystemExit(f"error: {cause}") from None
    print(f"predictions: {target}")


if __name__ == "__main__":
    from thermal_icas.errors import ConfigError
    from thermal_icas.run_folder import prepare_run_argv

    try:
        sys.argv = prepare_run_argv(sys.argv, "predict", resumable=False)
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from None
    main()
