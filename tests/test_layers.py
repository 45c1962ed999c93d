"""The core imports no training framework at run time.

`make test` checks the import graph with import-linter (pyproject.toml); this checks what an
import really loads, package `__init__` files and their side effects included, in a fresh
interpreter: a model or a statistic must be usable without Lightning or Hydra.
"""

from __future__ import annotations

import json
import subprocess
import sys

CORE = (
    "thermal_icas.models",
    "thermal_icas.losses",
    "thermal_icas.masks",
    "thermal_icas.asymmetry",
    "thermal_icas.evaluation",
    "thermal_icas.explain.maps",
    "thermal_icas.reporting.summary",
)
FRAMEWORKS = ("lightning", "pytorch_lightning", "hydra", "omegaconf")


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
    loaded = loaded_after_import(CORE)
    assert "torch" in loaded  # the probe itself works
    assert not loaded & set(FRAMEWORKS), sorted(loaded & set(FRAMEWORKS))


def test_the_training_stack_does_load_them() -> None:
    """The probe can fail: the DataModule's module brings Lightning and OmegaConf in."""
    loaded = loaded_after_import(("thermal_icas.data.thermal_data",))
    assert {"lightning", "omegaconf"} <= loaded
