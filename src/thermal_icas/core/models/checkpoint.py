"""Encoder checkpoints that carry their architecture, so a mismatch fails with a clear message."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from thermal_icas.core import run_files
from thermal_icas.core.errors import PretrainedWeightsError
from thermal_icas.core.models.encoder import ThermalEncoder
from thermal_icas.core.torch_files import read_checkpoint


def save_encoder(encoder: ThermalEncoder, path: Path) -> None:
    """Written whole or not at all (a temporary file renamed), so a run killed meanwhile
    leaves no truncated encoder behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    torch.save({"arch": dict(encoder.arch), "state_dict": encoder.state_dict()}, partial)
    os.replace(partial, path)


def load_encoder(encoder: ThermalEncoder, path: str | Path) -> None:
    """Load weights saved by `save_encoder`; a run directory stands for its encoder file."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / run_files.ENCODER
    if not path.is_file():
        raise PretrainedWeightsError(f"training.encoder_ckpt: no encoder checkpoint at '{path}'")
    saved = read_checkpoint(path, "train stage 1 again (without training.encoder_ckpt)")
    if _built(saved.get("arch") or {}) != _built(encoder.arch):
        raise PretrainedWeightsError(
            f"training.encoder_ckpt '{path}' was trained as {saved.get('arch')}, "
            f"but this run builds {encoder.arch}"
        )
    encoder.load_state_dict(saved["state_dict"])


def _built(arch: dict[str, object]) -> dict[str, object]:
    """The settings that shape the weights: an alignment without halves and a gate layer
    without a gate do not (older checkpoints recorded placeholder values for them)."""
    unused = {"align"} if arch.get("fusion") == "none" else set()
    if not arch.get("attention"):
        unused.add("attention_layer")
    return {key: value for key, value in arch.items() if key not in unused}
