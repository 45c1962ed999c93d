"""The memory estimates stop a run that cannot fit before it starts, and an allocation that
fails anyway gets one line naming what to lower."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import ComposeFn
from thermal_icas.core import memory
from thermal_icas.core.errors import ConfigError
from thermal_icas.train import config

GIB = 2**30


def test_a_step_too_large_for_the_memory_left_stops_with_what_fits(
    compose_cfg: ComposeFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = compose_cfg(["data.image_size=1000"])
    profile = config.run_profile(cfg)
    # ResNet-18, 64 x 2 views at 1000 px: about 170 values x 4 bytes x 10^6 pixels x 128
    assert 50 * GIB < profile.step_bytes(1000, 128) < 100 * GIB
    monkeypatch.setattr(config, "on_gpu", lambda cfg: False)
    monkeypatch.setattr(memory, "available_memory", lambda: 16 * GIB)
    with pytest.raises(ConfigError) as raised:
        config.check_settings(cfg)
    message = str(raised.value)
    assert "training.contrastive.batch_size=64 x 2 view(s) of 1000 px" in message
    assert "more than the 16.0 GiB this machine has free" in message
    # what the message offers must fit
    fits = int(message.split("(at most ")[1].split()[0])
    size = int(message.split("(at most ")[2].split()[0])
    assert profile.step_bytes(1000, 2 * fits) <= 16 * GIB < profile.step_bytes(1000, 2 * fits + 2)
    assert profile.step_bytes(size, 128) <= 16 * GIB < profile.step_bytes(size + 1, 128)
    monkeypatch.setattr(memory, "available_memory", lambda: 100 * GIB)
    config.check_settings(cfg)
    # the default run (64 px) fits in well under a GiB
    assert profile.step_bytes(64, 128) < GIB


def test_the_dry_run_follows_the_backbone_and_leaves_the_random_state(
    compose_cfg: ComposeFn,
) -> None:
    """Deeper and wider trunks keep more per pixel; the estimate needs no table per backbone
    and does not move the run's random numbers."""
    state = torch.random.get_rng_state()
    small = config.run_profile(compose_cfg([]))
    assert torch.equal(state, torch.random.get_rng_state())
    large = config.run_profile(compose_cfg(["model.backbone=resnet50"]))
    timm_cnn = config.run_profile(compose_cfg(["model=timm", "model.name=test_convnext"]))
    assert large.values_per_pixel > 2 * small.values_per_pixel
    assert large.parameters > 2 * small.parameters
    assert timm_cnn.values_per_pixel > 0 and 0 < timm_cnn.parameters < small.parameters


def test_on_the_gpu_its_free_memory_counts(
    compose_cfg: ComposeFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = compose_cfg(["data.image_size=512", "trainer=gpu"])
    monkeypatch.setattr(config, "on_gpu", lambda cfg: True)
    monkeypatch.setattr(memory, "available_memory", lambda: 1000 * GIB)
    monkeypatch.setattr(memory, "gpu_free_memory", lambda: 4 * GIB)
    with pytest.raises(ConfigError, match=r"than the 4\.0 GiB the GPU has free"):
        config.check_settings(cfg)
    # bf16 halves the activations: 64 x 2 at 512 px is ~10.7 GiB
    monkeypatch.setattr(memory, "gpu_free_memory", lambda: 12 * GIB)
    config.check_settings(cfg)


def test_a_cache_too_large_is_stopped_before_preprocessing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 3 channels and the face region, uint8: 4 bytes a pixel
    assert memory.cache_bytes(1000, 224) == 1000 * 4 * 224 * 224
    monkeypatch.setattr(memory, "available_memory", lambda: GIB)
    monkeypatch.setattr(memory, "gpu_free_memory", lambda: GIB // 8)
    memory.check_cache(1000, 224, on_device=False)
    with pytest.raises(ConfigError, match=r"cache of 1000 images at data\.image_size=1000 needs"):
        memory.check_cache(1000, 1000, on_device=False)
    with pytest.raises(ConfigError, match=r"the GPU has free: lower .* data\.augment_on=cpu"):
        memory.check_cache(1000, 224, on_device=True)


def test_the_memory_left_is_read() -> None:
    available = memory.available_memory()
    assert available is None or available > 0


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate"),
        MemoryError(),
    ],
)
def test_an_allocation_that_fails_is_one_line_naming_the_sizes(
    compose_cfg: ComposeFn, error: BaseException
) -> None:
    cfg = compose_cfg(["experiment=smoke"])
    wrapped = RuntimeError("a trainer's wrapper")
    wrapped.__cause__ = error
    message = memory.out_of_memory(wrapped, config.step_sizes(cfg))
    assert message is not None and "\n" not in message
    assert "data.image_size=32" in message
    assert "training.contrastive.batch_size=16, training.finetune.batch_size=16" in message
    assert memory.out_of_memory(RuntimeError("shapes do not match"), config.step_sizes(cfg)) is None
