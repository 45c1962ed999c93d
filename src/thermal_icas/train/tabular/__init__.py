"""Patient-level tables beside or instead of the images: the clinical covariates (`clinical`,
see `train.clinical`), the regional temperatures (`features=regions`, `regions`) and the
clinical thermal rule (`rule=capistrant`, `rule`). `Tables` reads the three levers together and
says what the run is: the images alone, the images with tables joined to the network's head
(`fused`), the tables alone in a scikit-learn model (`only`), or the rule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from thermal_icas.core.errors import ConfigError
from thermal_icas.core.evaluation import EvalSettings
from thermal_icas.train.clinical import Clinical
from thermal_icas.train.datamodule import ThermalData
from thermal_icas.train.tabular.features import Joined, PatientFeatures
from thermal_icas.train.tabular.only import check_model, tabular_only
from thermal_icas.train.tabular.regions import Regions
from thermal_icas.train.tabular.rule import CapistrantRule

__all__ = ["CapistrantRule", "Joined", "PatientFeatures", "Regions", "Tables"]


@dataclass(frozen=True)
class Tables:
    """The `clinical`, `features` and `rule` levers of one run, checked together."""

    clinical: Clinical | None = None
    regions: Regions | None = None
    rule: CapistrantRule | None = None

    def __post_init__(self) -> None:
        tables = {"clinical": self.clinical, "features": self.regions}
        on = {name: table for name, table in tables.items() if table is not None}
        if self.rule is not None and on:
            raise ConfigError(
                f"rule=capistrant is an arm of its own, without training: drop "
                f"{' and '.join(f'{name}=' for name in on)}"
            )
        if len({table.use for table in on.values()}) > 1:
            raise ConfigError(
                f"clinical.use={self.clinical.use} and features.use={self.regions.use}: the "
                "tables go either both to the network's head (fused) or both alone (only)"
            )
        if self.clinical is not None and self.clinical.use == "only":
            check_model(self.clinical.model)
        if len({table.model for table in on.values()}) > 1 and self.use == "only":
            raise ConfigError(
                f"clinical.model={self.clinical.model} and features.model={self.regions.model}:"
                " the joined tables are fitted by one model; name the same"
            )

    @property
    def use(self) -> str | None:
        """None (images alone), fused, only, or rule."""
        if self.rule is not None:
            return "rule"
        table = self.clinical or self.regions
        return None if table is None else table.use

    def features(self, data: ThermalData, output_dir: Path) -> Joined | None:
        """The tables in use, fitted on the training patients; right after the data's setup."""
        parts: dict[str, PatientFeatures] = {}
        if self.clinical is not None:
            parts["clinical"] = self.clinical.features(data)
        if self.regions is not None:
            parts["regions"] = self.regions.features(data, output_dir)
        return Joined(parts) if parts else None

    def run_alone(
        self, data: ThermalData, seed: int, settings: EvalSettings, output_dir: Path
    ) -> dict[str, float]:
        """The rule, or the tables in their model: a run without a network."""
        if self.rule is not None:
            return self.rule.run(data, settings, output_dir)
        features = self.features(data, output_dir)
        assert features is not None
        table = self.clinical or self.regions
        assert table is not None
        return tabular_only(data, features, table.model, seed, settings, output_dir)
