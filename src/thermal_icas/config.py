"""The run config composed outside `train.py` (Python API, tests): one config, one code path."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from thermal_icas.clinical.only import check_model
from thermal_icas.errors import ConfigError
from thermal_icas.explain.maps import check_method
from thermal_icas.models.encoder import explain_layer

ROOT_ENV = "THERMAL_ICAS_ROOT"
# smallest side of the trunk's input (a whole face or one half of it)
MIN_INPUT_SIDE = 16


def project_root() -> Path:
    """Where `conf/` lives: $THERMAL_ICAS_ROOT, else the source checkout this package runs from."""
    root = Path(os.environ.get(ROOT_ENV) or Path(__file__).resolve().parents[2])
    if not (root / "conf" / "train.yaml").is_file():
        raise FileNotFoundError(
            f"no conf/train.yaml under '{root}': install the project from its checkout "
            f"(pip install -e .) or set {ROOT_ENV} to the folder holding conf/"
        )
    return root


def compose_config(
    overrides: Sequence[str] = (), output_dir: str | Path | None = None
) -> DictConfig:
    """`conf/train.yaml` with overrides, as `train.py` would see it, writing into `output_dir`.

    Hydra's runtime values (the run folder) are filled in and registered, so interpolations
    such as `${hydra:runtime.output_dir}` resolve as in a command-line run.
    """
    root = project_root()
    os.environ[ROOT_ENV] = str(root)
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(root / "conf"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=list(overrides), return_hydra_config=True)
    GlobalHydra.instance().clear()
    with open_dict(cfg):
        if output_dir is not None:
            cfg.hydra.run.dir = str(output_dir)
        cfg.hydra.runtime.output_dir = str(Path(cfg.hydra.run.dir).resolve())
        cfg.hydra.job.name = "api"
    HydraConfig().set_config(cfg)
    Path(cfg.hydra.runtime.output_dir).mkdir(parents=True, exist_ok=True)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


# the levers whose `off` is null, and how to switch each on
LEVERS_ON = {
    "asymmetry": "asymmetry=on",
    "attention": "attention=on",
    "clinical": "clinical=only or clinical=fused",
}


def check_settings(cfg: DictConfig) -> None:
    """Settings that are read only after training, or whose combination is wrong, checked
    before any work starts; the others are checked where they are used."""
    for lever, on in LEVERS_ON.items():
        node = cfg.get(lever)
        if node is not None and "_target_" not in node:
            keys = ", ".join(f"{lever}.{key}" for key in node)
            raise ConfigError(f"{keys} set while {lever} is off: add {on}")
    if cfg.get("clinical") is not None and cfg.clinical.use == "only":
        check_model(cfg.clinical.model)
    check_image_size(cfg)
    explain_layer(cfg.explain.layer, cfg.data.image_size)
    check_method(cfg.explain.method)


def check_image_size(cfg: DictConfig) -> None:
    """A ResNet shrinks its input 32-fold; below 16 px a side even layer3's map is a single
    position, nothing left to explain. Each half of an asymmetry input is half as wide."""
    size = cfg.data.image_size
    halves = cfg.asymmetry is not None and cfg.asymmetry.fusion != "none"
    width = size // 2 if halves else size
    if min(size, width) < MIN_INPUT_SIDE:
        smallest = 2 * MIN_INPUT_SIDE if halves else MIN_INPUT_SIDE
        raise ConfigError(
            f"data.image_size={size} is too small for model.backbone={cfg.model.backbone}: the "
            f"model input ({size} x {width}) needs at least {MIN_INPUT_SIDE} px on each side; "
            f"use data.image_size={smallest} or more"
        )
