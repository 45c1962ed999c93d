"""Train and test an ICAS classifier: `python train.py [group=option ...] [key=value ...]`."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig

os.environ.setdefault("THERMAL_ICAS_ROOT", str(Path(__file__).resolve().parent))


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> None:
    from thermal_icas.pipeline import run

    run(cfg)


if __name__ == "__main__":
    main()
