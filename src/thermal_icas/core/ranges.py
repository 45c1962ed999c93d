"""What a setting accepts, and the one line that names it when a value is not accepted.

The class that owns a setting declares its ranges and checks them as it is made; the config's
door (`config.check_settings`) runs the same check with the setting's full name before any
work starts."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from thermal_icas.core.errors import ConfigError

# (test of a number, what the setting accepts)
Range = tuple[Callable[[float], bool], str]
UNIT: Range = (lambda v: 0 <= v <= 1, "a number in [0, 1]")
PROBABILITY: Range = (UNIT[0], "a probability in [0, 1]")
POSITIVE_SHARE: Range = (lambda v: 0 < v <= 1, "a share of the frame in (0, 1]")
NON_NEGATIVE: Range = (lambda v: v >= 0, "a number of at least 0")
SHORTER_SIDE_SHARE: Range = (lambda v: 0 <= v < 0.5, "a share of the shorter side in [0, 0.5)")


def require(setting: str, value: Any, ok: bool, accepted: str) -> None:
    """One line naming the setting, its value and what it accepts."""
    if not ok:
        raise ConfigError(f"{setting}={value} is not accepted: use {accepted}")


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def is_integer(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def check_ranges(values: Mapping[str, Any], prefix: str, ranges: Mapping[str, Range]) -> None:
    """Each of `values` that has a range, named `<prefix><key>` in the message."""
    for key, (ok, accepted) in ranges.items():
        if key in values:
            value = values[key]
            require(f"{prefix}{key}", value, is_number(value) and ok(value), accepted)
