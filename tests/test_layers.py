"""The layers load what they may at run time.

`make test` checks the import graph with import-linter (pyproject.toml); this checks what an
import really loads, package `__init__` files and their side effects included, in a fresh
interpreter: a model or a statistic must be usable without Lightning or Hydra, a finished run
without Lightning.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import thermal_icas

# matplotlib is not here: torchmetrics loads it when it is installed, whoever imports torchmetrics
FRAMEWORKS = ("lightning", "pytorch_lightning", "hydra", "omegaconf")


def layer_modules(layer: str) -> tuple[str, ...]:
    """Every module of one layer (`core`, `analysis`, ...), found on disk."""
    prefix = f"thermal_icas.{layer}."
    found = pkgutil.walk_packages(thermal_icas.__path__, "thermal_icas.")
    return tuple(sorted(module.name for module in found if module.name.startswith(prefix)))


def loaded_after_import(modules: tuple[str, ...]) -> set[str]:
    """The top-level packages in `sys.modules` after importing `modules` in a new process."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_the_core_loads_no_training_framework() -> None:
    modules = layer_modules("core")
    assert "thermal_icas.core.models.backbones.timm_models" in modules
    loaded = loaded_after_import(modules)
    assert "torch" in loaded  # the probe itself works
    assert not loaded & set(FRAMEWORKS), sorted(loaded & set(FRAMEWORKS))


def test_analysis_loads_no_training_stack() -> None:
    modules = layer_modules("analysis")
    assert "thermal_icas.analysis.summary.render" in modules
    loaded = loaded_after_import(modules)
    assert "hydra" in loaded  # a finished run's config is read with Hydra's instantiate
    assert not loaded & {"lightning", "pytorch_lightning"}


def test_the_training_stack_does_load_them() -> None:
    """The probe can fail: the DataModule's module brings Lightning in, the door of the
    config (`thermal_icas.train.config`) Hydra and OmegaConf."""
    assert "lightning" in loaded_after_import(("thermal_icas.train.datamodule",))
    assert {"hydra", "omegaconf"} <= loaded_after_import(("thermal_icas.train.config",))
