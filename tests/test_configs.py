"""Every option of every config group composes and instantiates its objects."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hydra.utils import instantiate

from tests.conftest import CONF_DIR, ComposeFn
from thermal_icas.core.errors import ConfigError
from thermal_icas.core.models import ThermalEncoder
from thermal_icas.train.config import check_settings
from thermal_icas.train.datamodule import ThermalData
from thermal_icas.train.lit import ClassifierModule, ContrastiveModule

GROUPS = sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir() and p.name != "hydra")
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((CONF_DIR / g).glob("*.yaml"))]


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_composes_and_instantiates(
    compose_cfg: ComposeFn, tmp_path: Path, group: str, option: str
) -> None:
    overrides = [f"{group}={option}", "model.pretrained=none"]
    if group == "experiment" or group == "debug":
        overrides.append(f"data.data_dir={tmp_path}")
    cfg = compose_cfg(overrides)
    assert isinstance(instantiate(cfg.data), ThermalData)
    assert isinstance(instantiate(cfg.model.encoder), ThermalEncoder)
    instantiate(cfg.loss)
    instantiate(cfg.training.finetune.optimizer)
    # the stages' LightningModules, partial: the run adds what only the data tells
    for stage, module in (("contrastive", ContrastiveModule), ("finetune", ClassifierModule)):
        built = instantiate(cfg.training[stage].module)
        assert isinstance(built, functools.partial) and built.func is module


def test_attention_switch_reaches_the_encoder(compose_cfg: ComposeFn) -> None:
    on = instantiate(compose_cfg(["attention=on", "attention.hidden_channels=16"]).model.encoder)
    off = instantiate(compose_cfg(["attention=off"]).model.encoder)
    assert on.attention is not None and on.attention.score[0].out_channels == 16
    assert off.attention is None


def test_unknown_option_lists_the_choices(compose_cfg: ComposeFn) -> None:
    from hydra.errors import MissingConfigException

    with pytest.raises(MissingConfigException, match="Available options"):
        compose_cfg(["attention=maybe"])


MASKS = sorted(p.stem for p in (CONF_DIR / "mask").glob("*.yaml"))


@pytest.mark.parametrize("attention", ["off", "on"])
@pytest.mark.parametrize("mask", MASKS)
def test_asymmetry_composes_with_every_mask_and_attention(
    compose_cfg: ComposeFn, mask: str, attention: str
) -> None:
    cfg = compose_cfg(["asymmetry=on", f"mask={mask}", f"attention={attention}"])
    encoder = instantiate(cfg.model.encoder)
    assert encoder.adapter.fusion == "siamese" and encoder.adapter.align == "mirror"
    assert (encoder.attention is not None) == (attention == "on")
    assert instantiate(cfg.data).preprocessor.on_midline


def test_a_sub_key_of_a_lever_that_is_off_is_refused_before_any_work(
    compose_cfg: ComposeFn,
) -> None:
    check_settings(compose_cfg(["attention=on", "attention.layer=layer4"]))
    with pytest.raises(ConfigError, match=r"attention\.layer set while attention is off: add"):
        check_settings(compose_cfg(["+attention.layer=layer4"]))
