"""`eval.*`: how test predictions become reported numbers, checked as they are made."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from thermal_icas.core.errors import ConfigError
from thermal_icas.core.evaluation.bootstrap import BootstrapSettings
from thermal_icas.core.evaluation.calibration import CALIBRATIONS
from thermal_icas.core.evaluation.patients import check_aggregate

OPERATING_TARGETS = ("specificity", "sensitivity")


@dataclass(frozen=True)
class EvalSettings:
    """`eval.*`: how test predictions become reported numbers (see conf/eval/default.yaml)."""

    aggregate: str = "mean"
    n_bootstrap: int = 2000
    ci_level: float = 0.95
    seed: int = 0
    operating_points: Mapping[str, float] = field(
        default_factory=lambda: {"specificity": 0.8, "sensitivity": 0.9}
    )
    calibrate: str = "prior"
    calibration_bins: int = 10
    # the test patients' images from another camera (`shift_test`); None: no such test
    shift_dir: str | None = None

    def __post_init__(self) -> None:
        check_aggregate(self.aggregate)
        if isinstance(self.calibrate, bool):  # the older true/false: temperature or nothing
            object.__setattr__(self, "calibrate", "temperature" if self.calibrate else "none")
        if self.calibrate not in CALIBRATIONS:
            raise ConfigError(f"eval.calibrate='{self.calibrate}' must be one of {CALIBRATIONS}")
        if not 0 < self.ci_level < 1:
            raise ConfigError(f"eval.ci_level={self.ci_level} must lie in (0, 1)")
        if self.n_bootstrap < 100:
            raise ConfigError(f"eval.n_bootstrap={self.n_bootstrap} must be at least 100")
        for target, value in self.operating_points.items():
            if target not in OPERATING_TARGETS or not 0 < value < 1:
                raise ConfigError(
                    f"eval.operating_points.{target}={value}: keys must be among "
                    f"{OPERATING_TARGETS}, values in (0, 1)"
                )

    @property
    def bootstrap(self) -> BootstrapSettings:
        return BootstrapSettings(self.n_bootstrap, self.ci_level, self.seed)
