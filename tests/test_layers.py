"""The core imports no training framework at run time.

`make test` checks the import graph with import-linter (pyproject.toml); this checks what an
import really loads, package `__init__` files and their side effects included, in a fresh
interpreter: a model or a statistic must be usable without Lightning or Hydra.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
# matplotlib is not here: torchmetrics loads it when it is installed, whoever imports torchmetrics
FRAMEWORKS = ("lightning", "pytorch_lightning", "hydra", "omegaconf")


def contract_sources() -> tuple[str, ...]:
    """Every module the import contracts of pyproject.toml constrain."""
    contracts = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"]
    return tuple(name for contract in contracts for name in contract["source_modules"])


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
    sources = contract_sources()
    assert "thermal_icas.models" in sources
    loaded = loaded_after_import(sources)
    assert "torch" in loaded  # the probe itself works
    assert not loaded & set(FRAMEWORKS), sorted(loaded & set(FRAMEWORKS))


def test_the_training_stack_does_load_them() -> None:
    """The probe can fail: the DataModule's module brings Lightning in, the door of the
    config (`thermal_icas.config`) Hydra and OmegaConf."""
    assert "lightning" in loaded_after_import(("thermal_icas.data.thermal_data",))
    assert {"hydra", "omegaconf"} <= loaded_after_import(("thermal_icas.config",))
