"""The run config composed outside `train.py` (Python API, tests): one config, one code path."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_class, instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from thermal_icas.analysis.resolvers import register
from thermal_icas.core.data.preprocess import NORMALIZATIONS
from thermal_icas.core.data.transforms import AugmentConfig
from thermal_icas.core.errors import ConfigError
from thermal_icas.core.evaluation import EvalSettings
from thermal_icas.core.explain.maps import check_method
from thermal_icas.core.masks.base import FaceMask
from thermal_icas.core.memory import StepProfile, StepSizes, check_training_step, profile_encoder
from thermal_icas.core.models.encoder import explain_layer
from thermal_icas.core.ranges import is_integer, is_number, require
from thermal_icas.train.tabular import Tables

register()

ROOT_ENV = "THERMAL_ICAS_ROOT"
# smallest side of the trunk's input (a whole face or one half of it)
MIN_INPUT_SIDE = 16


def project_root() -> Path:
    """Where `conf/` lives: $THERMAL_ICAS_ROOT, else the source checkout this package runs from."""
    root = Path(os.environ.get(ROOT_ENV) or Path(__file__).resolve().parents[3])
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
    "features": "features=regions",
    "rule": "rule=capistrant",
}


def tables_of(cfg: DictConfig) -> Tables:
    """The `clinical`, `features` and `rule` levers, checked together (`Tables`)."""
    nodes = (cfg.get(lever) for lever in ("clinical", "features", "rule"))
    return Tables(*(None if node is None else instantiate(node) for node in nodes))


def check_settings(cfg: DictConfig) -> None:
    """Every setting that can be checked without the data, before any work starts: a value
    read only after hours of training must not stop the run then."""
    for lever, on in LEVERS_ON.items():
        node = cfg.get(lever)
        if node is not None and "_target_" not in node:
            keys = ", ".join(f"{lever}.{key}" for key in node)
            raise ConfigError(f"{keys} set while {lever} is off: add {on}")
    tables = tables_of(cfg)
    if tables.use is not None and cfg.eval.get("shift_dir"):
        raise ConfigError(
            "eval.shift_dir scores images alone, and an arm with clinical, regional or rule "
            "scores needs each patient's table: run the other camera's test without them"
        )
    check_image_size(cfg)
    explain_layer(cfg.explain.layer, cfg.data.image_size)
    check_method(cfg.explain.method)
    check_training(cfg)
    check_data(cfg)
    check_mask(cfg.mask.method, "mask.method")
    check_eval(cfg.eval)
    half = "16" in str(cfg.trainer.get("precision"))
    check_training_step(run_profile(cfg), step_sizes(cfg), cfg.model.backbone, on_gpu(cfg), half)


def run_profile(cfg: DictConfig) -> StepProfile:
    """The run's encoder, built untrained and on the side: the random state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        return profile_encoder(instantiate(cfg.model.encoder, pretrained="none"))


def step_sizes(cfg: DictConfig) -> StepSizes:
    training = cfg.training
    return StepSizes(
        cfg.data.image_size,
        training.contrastive.batch_size,
        training.finetune.batch_size,
        bool(training.skip_contrastive),
    )


def on_gpu(cfg: DictConfig) -> bool:
    """Whether the run trains on a GPU: there is one, and `trainer` does not ask for the CPU."""
    return torch.cuda.is_available() and cfg.trainer.get("accelerator") != "cpu"


def check_image_size(cfg: DictConfig) -> None:
    """A CNN trunk shrinks its input 32-fold (a ViT 16-fold); below 16 px a side even layer3's
    map is a single position, nothing left to explain. Each half of an asymmetry input is half
    as wide."""
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


def check_training(cfg: DictConfig) -> None:
    """Batch sizes, epochs, learning rates and patience of the stages that run."""
    stages = ["finetune"] if cfg.training.skip_contrastive else ["contrastive", "finetune"]
    for stage in stages:
        node = cfg.training[stage]
        name = f"training.{stage}"
        # a contrastive batch needs a second image to contrast with
        smallest = 2 if stage == "contrastive" else 1
        require(
            f"{name}.batch_size",
            node.batch_size,
            is_integer(node.batch_size, smallest),
            f"an integer of at least {smallest}",
        )
        require(
            f"{name}.epochs", node.epochs, is_integer(node.epochs, 1), "an integer of at least 1"
        )
        lr = node.optimizer.get("lr")
        require(f"{name}.optimizer.lr", lr, is_number(lr) and lr > 0, "a number above 0")
    patience = cfg.training.finetune.patience
    require(
        "training.finetune.patience",
        patience,
        is_integer(patience, 0),
        "an integer of at least 0 (epochs without a better val AUROC)",
    )


def check_data(cfg: DictConfig) -> None:
    """Split shares, folds and augmentation ranges."""
    data = cfg.data
    # with an external test set or folds the test split is not cut by a share
    used = ["train", "val"] if data.test_dir or data.num_folds else ["train", "val", "test"]
    shares = {name: data.split.get(name) for name in used}
    for name, share in shares.items():
        require(
            f"data.split.{name}",
            share,
            is_number(share) and 0 < share <= 1,
            "a share in (0, 1]: every split needs patients",
        )
    total = sum(shares.values())
    if len(used) == 3 and not math.isclose(total, 1.0, abs_tol=1e-6):
        raise ConfigError(
            f"data.split shares sum to {total:g}, not 1: set data.split.train/val/test to "
            "shares that add up to 1 (default 0.70/0.15/0.15)"
        )
    if data.num_folds is not None:
        require(
            "data.num_folds",
            data.num_folds,
            is_integer(data.num_folds, 2),
            "null or an integer of at least 2",
        )
        require(
            "data.fold",
            data.fold,
            is_integer(data.fold, 0) and data.fold < data.num_folds,
            f"an integer in [0, {data.num_folds - 1}] (data.num_folds={data.num_folds})",
        )
    AugmentConfig.check(data.augment, "data.augment.")
    normalize = data.get("normalize", "dataset")
    require("data.normalize", normalize, normalize in NORMALIZATIONS, " or ".join(NORMALIZATIONS))


def check_mask(method: DictConfig, prefix: str) -> None:
    """A mask method's parameters, by the ranges its class declares, and those of its fallback
    mask (a method of a class that declares none is left to the class)."""
    target = get_class(method._target_) if "_target_" in method else None
    if target is not None and issubclass(target, FaceMask):
        target.check(method, f"{prefix}.")
    if method.get("fallback") is not None:
        check_mask(method.fallback, f"{prefix}.fallback")


def check_eval(node: DictConfig) -> None:
    """`EvalSettings` checks its values as it is made; the run makes it only to test."""
    values = OmegaConf.to_container(node, resolve=True)
    assert isinstance(values, dict)
    EvalSettings(**{key: value for key, value in values.items() if not str(key).startswith("_")})
    shift = values.get("shift_dir")
    if shift and not Path(str(shift)).expanduser().is_dir():
        raise ConfigError(f"eval.shift_dir='{shift}' does not exist or is not a folder")
