"""Whether a run fits the machine's memory, estimated before the work that would run out.

Both estimates are rough on purpose: they stop a run that cannot fit (an image size or batch
many times too large) instead of failing minutes into it, and let every plausible one start.
- The preprocessed cache (`data/preprocess.py`) holds per image 3 channels and the face
  region, uint8: 4 x size^2 bytes; with augmentation on the GPU it is copied there as well.
- A training step keeps what autograd saves for the backward pass, plus weights, gradients
  and AdamW's two moments. Neither depends on a table per backbone: a dry run of the run's own
  encoder (any provider, with its levers) on two 64 px images counts the distinct tensors it
  saves, per input pixel, and its parameters. The backward pass needs room beyond the saved
  tensors (their gradients, temporaries): forwards and backwards of 16 images at 128 px on the
  CPU peaked at 1.46 (ResNet-18) and 1.16 (ResNet-50) x the saved tensors, hence
  `BACKWARD_HEADROOM`. bf16 on a GPU halves the activations.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.autograd.graph import saved_tensors_hooks

from thermal_icas.core.errors import ConfigError

BACKWARD_HEADROOM = 1.5
PROBE_SIZE = 64
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


@dataclass(frozen=True)
class StepProfile:
    """What a training step of an encoder holds: activation values per input pixel and image
    (saved tensors x headroom, float32 values), and its parameters."""

    values_per_pixel: float
    parameters: int

    def step_bytes(self, image_size: int, images: int, bytes_per_value: int = 4) -> int:
        """One training step of `images` inputs (batch x views) at `image_size`."""
        activations = images * self.values_per_pixel * image_size**2 * bytes_per_value
        return int(activations) + self.parameters * BYTES_PER_PARAMETER


def profile_encoder(encoder: nn.Module, probe_size: int = PROBE_SIZE) -> StepProfile:
    """A dry run of `encoder` (in training mode) on two images: the bytes of the distinct
    tensors autograd saves for the backward pass, parameters excluded."""
    parameters = {p.untyped_storage().data_ptr() for p in encoder.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with saved_tensors_hooks(pack, lambda tensor: tensor):
        encoder(torch.zeros(2, 3, probe_size, probe_size))
    values = sum(saved.values()) / 4 / (2 * probe_size**2)
    return StepProfile(values * BACKWARD_HEADROOM, sum(p.numel() for p in encoder.parameters()))


def check_fits(what: str, needed: int, available: int | None, where: str, lower: str) -> None:
    if available is not None and needed > available:
        raise ConfigError(
            f"{what} needs about {needed / GIB:.1f} GiB, more than the {available / GIB:.1f} GiB "
            f"{where} has free: lower {lower}"
        )


@dataclass(frozen=True)
class StepSizes:
    """The sizes a run's training steps hold: the image size and the batch sizes of its two
    stages (`training.contrastive.batch_size`, `training.finetune.batch_size`)."""

    image_size: int
    contrastive_batch: int
    finetune_batch: int
    skip_contrastive: bool = False

    def stages(self) -> dict[str, tuple[int, int]]:
        """Each stage that runs: (batch size, views per image; stage 1 contrasts two)."""
        finetune = {"finetune": (self.finetune_batch, 1)}
        return (
            finetune
            if self.skip_contrastive
            else {"contrastive": (self.contrastive_batch, 2), **finetune}
        )


def check_training_step(
    profile: StepProfile, sizes: StepSizes, backbone: str, gpu: bool, half: bool
) -> None:
    """The largest step of the stages that run, on the device that trains (`gpu`, in half
    precision with `half`); the message says which batch size fits at this image size, and
    which image size at this batch size."""
    size = sizes.image_size
    available = gpu_free_memory() if gpu else available_memory()
    value_bytes = 2 if gpu and half else 4
    fixed = profile.step_bytes(size, 0)
    for stage, (batch, views) in sizes.stages().items():
        needed = profile.step_bytes(size, batch * views, value_bytes)
        if available is None or needed <= available:
            continue
        room = max(0, available - fixed)
        per_pixel = views * profile.values_per_pixel * value_bytes
        fit_batch = int(room // (per_pixel * size**2))
        fit_size = math.isqrt(int(room // (per_pixel * batch)))
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


def out_of_memory(error: BaseException | None, sizes: StepSizes) -> str | None:
    """One line for an allocation that failed despite the estimates, naming what to lower;
    None for any other error. The cause chain is searched, as wrappers re-raise."""
    while error is not None:
        if isinstance(error, torch.OutOfMemoryError | MemoryError) or (
            isinstance(error, RuntimeError) and _OUT_OF_MEMORY.search(str(error))
        ):
            first = (
                str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            )
            return (
                f"out of memory ({first[:160]}) with data.image_size={sizes.image_size}, "
                f"training.contrastive.batch_size={sizes.contrastive_batch}, "
                f"training.finetune.batch_size={sizes.finetune_batch}: lower them"
            )
        error = error.__cause__ or error.__context__
    return None
