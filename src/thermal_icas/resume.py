"""Resuming a crashed run in its own folder, at the stage and epoch where it stopped.

A resumed run must reach the metrics of an uninterrupted one, so checkpoints also carry the
random number generators' states: the loader's shuffling and the augmentation continue from
where the saved epoch left them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback

from thermal_icas.reporting.results import METRICS_FILE
from thermal_icas.settings import ConfigError

RNG_FILE = Path("checkpoints") / "stage2_rng.pt"
STAGE1_METRICS_FILE = Path("checkpoints") / "stage1_metrics.json"


def rng_state() -> dict[str, Any]:
    """Every generator a run draws from, as tensors and plain values (safe to load)."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    version, state, python_gauss = random.getstate()
    saved: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
        "python": [version, list(state), python_gauss],
    }
    if torch.cuda.is_available():
        saved["cuda"] = torch.cuda.get_rng_state_all()
    return saved


def set_rng_state(saved: dict[str, Any]) -> None:
    torch.set_rng_state(saved["torch"])
    keys, position, has_gauss, gauss = saved["numpy"]
    np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    version, state, python_gauss = saved["python"]
    random.setstate((version, tuple(state), python_gauss))
    if "cuda" in saved and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda"])


class RngState(Callback):
    """Puts the generators' states into every checkpoint and restores them on resume."""

    def state_dict(self) -> dict[str, Any]:
        return rng_state()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        set_rng_state(state_dict)


def save_rng(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(rng_state(), path)


def load_rng(path: Path) -> None:
    set_rng_state(torch.load(path, weights_only=True))


def resolve_resume(value: str, runs_dir: Path) -> Path:
    """`latest`: the newest run folder under runs_dir that has no metrics.json yet."""
    if value == "latest":
        unfinished = [
            d for d in runs_dir.glob("*") if d.is_dir() and not (d / METRICS_FILE).exists()
        ]
        if not unfinished:
            raise ConfigError(f"resume=latest: no unfinished run folder under '{runs_dir}'")
        return max(unfinished, key=lambda d: d.stat().st_mtime)
    path = Path(value).expanduser().resolve()
    if not (path / ".hydra" / "config.yaml").is_file():
        raise ConfigError(f"resume='{value}' is not a run folder (no .hydra/config.yaml)")
    return path


def resume_argv(argv: Sequence[str], root: Path) -> list[str]:
    """Point Hydra's run folder at the run being resumed: `resume=<dir|latest>` on the command
    line gains `hydra.run.dir=<dir>`, and `latest` is replaced by the folder it stands for.

    Checked before Hydra starts, since Hydra writes its files into the run folder first: a
    finished run's folder is refused, as a target for a new run and for resuming alike.
    """
    for arg in argv:
        if arg.startswith("hydra.run.dir="):
            refuse_finished(Path(arg.split("=", 1)[1]).expanduser())
    value = next((a.split("=", 1)[1] for a in argv if a.startswith("resume=")), "null")
    if value == "null":
        return list(argv)
    task = next((a.split("=", 1)[1] for a in argv if a.startswith("task_name=")), "train")
    folder = resolve_resume(value, root / "outputs" / task / "runs")
    refuse_finished(folder)
    kept = [a for a in argv if not a.startswith(("resume=", "hydra.run.dir="))]
    return [*kept, f"resume={folder}", f"hydra.run.dir={folder}"]


def last_checkpoint(directory: Path) -> str | None:
    path = directory / "last.ckpt"
    return str(path) if path.is_file() else None


def refuse_finished(folder: Path) -> None:
    """Nothing a finished run wrote is overwritten, by a new run or by resuming it."""
    if (folder / METRICS_FILE).exists():
        raise ConfigError(
            f"'{folder}' holds a finished run (metrics.json); nothing of it is overwritten: "
            "start the new run in another folder"
        )
