"""thermal-icas: config-driven ICAS screening experiments on facial thermal images."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["ContrastiveThermalClassifier"]


def __getattr__(name: str) -> Any:
    # imported on first use, so `import thermal_icas.<module>` stays light
    if name == "ContrastiveThermalClassifier":
        from thermal_icas.train.api import ContrastiveThermalClassifier

        return ContrastiveThermalClassifier
    raise AttributeError(f"module 'thermal_icas' has no attribute '{name}'")
