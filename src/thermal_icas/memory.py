"""Whether a run fits the machine's memory, estimated before the work that would run out.

Both estimates are rough on purpose: they stop a run that cannot fit (an image size or batch
many times too large) instead of failing minutes into it, and let every plausible one start.
- The preprocessed cache (`data/preprocess.py`) holds per image 3 channels and the face
  region, uint8: 4 x size^2 bytes; with augmentation on the GPU it is copied there as well.
- A training step keeps every layer's output of the batch's views for the backward pass:
  `ACTIVATIONS_PER_PIXEL` values per input pixel (the outputs of all of torchvision's ResNet
  layers, counted at 64 px), plus weights, gradients and AdamW's two moments. A forward and
  backward of 16 images at 128 px on the CPU peaked at 1.1 (ResNet-18) and 0.8 (ResNet-50)
  x this estimate without the moments. bf16 on a GPU halves the activations.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import torch
from omegaconf import DictConfig

from thermal_icas.errors import ConfigError

ACTIVATIONS_PER_PIXEL = {"resnet18": 150, "resnet34": 225, "resnet50": 640}
PARAMETERS = {"resnet18": 11.7e6, "resnet34": 21.8e6, "resnet50": 25.6e6}
# weights, gradients and AdamW's two moments, float32
BYTES_PER_PARAMETER = 16
CACHE_BYTES_PER_PIXEL = 4  # 3 channels and the face region, uint8
GIB = 2**30


def available_memory() -> int | None:
    """Bytes the system can give without swapping (Linux's MemAvailable), else free pages."""
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def gpu_free_memory() -> int | None:
    return torch.cuda.mem_get_info()[0] if torch.cuda.is_available() else None


def cache_bytes(images: int, image_size: int) -> int:
    return images * CACHE_BYTES_PER_PIXEL * image_size**2


def step_bytes(backbone: str, image_size: int, images: int, bytes_per_value: int = 4) -> int:
    """One training step of `images` inputs (batch x views) through the backbone."""
    activations = images * ACTIVATIONS_PER_PIXEL[backbone] * image_size**2 * bytes_per_value
    return activations + int(PARAMETERS[backbone] * BYTES_PER_PARAMETER)


def on_gpu(cfg: DictConfig) -> bool:
    return torch.cuda.is_available() and cfg.trainer.get("accelerator") != "cpu"


def check_fits(what: str, needed: int, available: int | None, where: str, lower: str) -> None:
    if available is not None and needed > available:
        raise ConfigError(
            f"{what} needs about {needed / GIB:.1f} GiB, more than the {available / GIB:.1f} GiB "
            f"{where} has free: lower {lower}"
        )


def check_training_step(cfg: DictConfig) -> None:
    """The largest step of the stages that run, on the device that trains; the message says
    which batch size fits at this image size, and which image size at this batch size."""
    backbone = cfg.model.backbone
    if backbone not in ACTIVATIONS_PER_PIXEL:
        return  # an unknown backbone is refused where the encoder is built
    size = cfg.data.image_size
    stages = {"finetune": 1} if cfg.training.skip_contrastive else {"contrastive": 2, "finetune": 1}
    gpu = on_gpu(cfg)
    available = gpu_free_memory() if gpu else available_memory()
    value_bytes = 2 if gpu and "16" in str(cfg.trainer.get("precision")) else 4
    fixed = step_bytes(backbone, size, 0)
    for stage, views in stages.items():
        batch = cfg.training[stage].batch_size
        needed = step_bytes(backbone, size, batch * views, value_bytes)
        if available is None or needed <= available:
            continue
        room = max(0, available - fixed)
        per_pixel = views * ACTIVATIONS_PER_PIXEL[backbone] * value_bytes
        fit_batch = room // (per_pixel * size**2)
        fit_size = math.isqrt(room // (per_pixel * batch))
        check_fits(
            f"a training step of training.{stage}.batch_size={batch} x {views} view(s) of "
            f"{size} px through {backbone}",
            needed,
            available,
            "the GPU" if gpu else "this machine",
            f"training.{stage}.batch_size (at most {fit_batch} fits at {size} px) or "
            f"data.image_size (at most {fit_size} px fits at this batch size)",
        )


def check_cache(images: int, image_size: int, on_device: bool) -> None:
    """The preprocessed images, in memory and, augmented on the GPU, there too."""
    needed = cache_bytes(images, image_size)
    what = f"the preprocessed cache of {images} images at data.image_size={image_size}"
    lower = f"data.image_size={image_size}"
    check_fits(what, needed, available_memory(), "this machine", lower)
    if on_device:
        check_fits(
            what, needed, gpu_free_memory(), "the GPU", f"{lower} or set data.augment_on=cpu"
        )


# how the CPU and CUDA allocators (and numpy) say they ran out
_OUT_OF_MEMORY = re.compile(r"out of memory|(can't|could not|cannot|unable to) allocate", re.I)


def out_of_memory(error: BaseException | None, cfg: DictConfig) -> str | None:
    """One line for an allocation that failed despite the estimates, naming what to lower;
    None for any other error. The cause chain is searched, as wrappers re-raise."""
    while error is not None:
        if isinstance(error, torch.OutOfMemoryError | MemoryError) or (
            isinstance(error, RuntimeError) and _OUT_OF_MEMORY.search(str(error))
        ):
            stages = cfg.training
            first = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            return (
                f"out of memory ({first[:160]}) with data.image_size={cfg.data.image_size}, "
                f"training.contrastive.batch_size={stages.contrastive.batch_size}, "
                f"training.finetune.batch_size={stages.finetune.batch_size}: lower them"
            )
        error = error.__cause__ or error.__context__
    return None
