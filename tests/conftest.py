"""Shared fixtures: the real Hydra config composed with outputs in temporary folders."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from thermal_icas.core.data.synthetic import SyntheticSpec
from thermal_icas.core.masks import Masking, NoMask
from thermal_icas.train.config import compose_config, project_root
from thermal_icas.train.datamodule import ThermalData

CONF_DIR = project_root() / "conf"

# `make test` runs the suite in one process per core (pytest-xdist): each worker, and the runs
# it starts as subprocesses, takes its share of the cores instead of all of them
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    WORKER_THREADS = max(1, (CORES or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(WORKER_THREADS))
    torch.set_num_threads(WORKER_THREADS)

ComposeFn = Callable[..., DictConfig]


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthetic-data cache for the whole session, so each spec is generated once."""
    return tmp_path_factory.mktemp("cache")


def drop_checkpoints(folder: Path) -> None:
    """Checkpoints go once their test has run, so a full run does not pile up gigabytes."""
    for checkpoint in [*folder.rglob("*.ckpt"), *folder.rglob("encoder.pt")]:
        checkpoint.unlink()


@pytest.fixture(autouse=True)
def _drop_checkpoints(tmp_path: Path) -> Iterator[None]:
    yield
    drop_checkpoints(tmp_path)


@pytest.fixture(autouse=True)
def _restore_threads() -> Iterator[None]:
    """A run with `threads=N` sets torch's thread count for the whole process; the next test
    must start from the default, as its results depend on it."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def compose_cfg(tmp_path: Path, cache_dir: Path) -> Iterator[ComposeFn]:
    """Compose conf/train.yaml with overrides, writing into tmp_path."""

    def _compose(overrides: Sequence[str] = (), output_dir: Path | None = None) -> DictConfig:
        cfg = compose_config(overrides, output_dir or tmp_path / "run")
        with open_dict(cfg):
            cfg.paths.cache_dir = str(cache_dir)
        return cfg

    yield _compose
    GlobalHydra.instance().clear()


def load_script(name: str) -> ModuleType:
    """`scripts/<name>.py` as a module (scripts/ is no package), imported once."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, project_root() / "scripts" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def run_metrics(run_dir: Path) -> dict[str, float]:
    """A finished run's metrics.json."""
    return json.loads((run_dir / "metrics.json").read_text())


def write_image(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")


def make_toy_dataset(
    root: Path,
    patients: dict[str, int] | None = None,
    images_per_patient: int = 2,
    size: int = 40,
    seed: int = 0,
    prefix: str = "",
) -> Path:
    """A clearly separable set: ICAS faces are warm, controls cool, on a black background.

    Patient ids are `<prefix><I|N><number>`; another cohort needs another prefix."""
    patients = patients or {"icas": 12, "non_icas": 24}
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    face = ((yy - size / 2) / (0.45 * size)) ** 2 + ((xx - size / 2) / (0.35 * size)) ** 2 < 1
    for name, count in patients.items():
        level = 200 if name == "icas" else 90
        for p in range(count):
            for k in range(images_per_patient):
                image = np.zeros((size, size, 3), np.uint8)
                value = np.clip(level + rng.normal(0, 12, (size, size)), 0, 255)
                image[face] = value[face, None].astype(np.uint8)
                write_image(root / name / f"{prefix}{name[0].upper()}{p:03d}_{k}.png", image)
    return root


def thermal_data(tmp_path: Path, **overrides: object) -> ThermalData:
    """A data module on real folders, no Hydra: small images, no mask, no workers."""
    settings: dict[str, object] = {
        "data_dir": None,
        "test_dir": None,
        "split_file": None,
        "positive_class": None,
        "patient_regex": "^([^_-]+)",
        "split": {"train": 0.7, "val": 0.15, "test": 0.15},
        "split_seed": 0,
        "num_folds": None,
        "fold": 0,
        "image_size": 16,
        "num_workers": 0,
        "augment": {},
        "augment_on": "cpu",
        "mean": [0.5] * 3,
        "std": [0.25] * 3,
        "mask": Masking(NoMask()),
        "asymmetry": None,
        "synthetic": SyntheticSpec(num_patients=12, height=32, width=32),
        "cache_dir": str(tmp_path / "cache"),
    }
    settings.update(overrides)
    return ThermalData(**settings)  # type: ignore[arg-type]
