"""Export a trained run's classifier: `python export.py ckpt_path=<run> format=onnx`."""

import os
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("THERMAL_ICAS_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
def main(cfg: DictConfig) -> None:
    from thermal_icas.errors import user_error
    from thermal_icas.export import check_format, export_run
    from thermal_icas.trained_run import load_run

    try:
        check_format(cfg.format)
        target = export_run(load_run(cfg.ckpt_path), Path(cfg.paths.output_dir), cfg.format)
    except Exception as error:
        if (cause := user_error(error)) is None:
            raise
        raise SystemExit(f"error: {cause}") from None
    print(f"model: {target}")


if __name__ == "__main__":
    from thermal_icas.errors import ConfigError
    from thermal_icas.run_folder import prepare_run_argv

    try:
        sys.argv = prepare_run_argv(sys.argv, "export", resumable=False)
    except ConfigError as error:
        raise SystemExit(f"error: {error}") from None
    main()
