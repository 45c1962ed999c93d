"""Clinical covariates beside the images: a table per patient (`data.clinical_table`), its
features fitted on the training patients (`features`) and the embedded dataset's table
(`synthetic`). `clinical=fused` joins the features to the image features before the classifier
head (`models.heads.ThermalClassifier`); `clinical=only` fits them alone (`train.tabular`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from thermal_icas.core.data.clinical_table import ClinicalTable, read_table
from thermal_icas.core.errors import ConfigError
from thermal_icas.train.clinical.features import ClinicalFeatures
from thermal_icas.train.clinical.synthetic import ensure_clinical_table
from thermal_icas.train.datamodule import ThermalData

__all__ = ["USES", "Clinical", "ClinicalFeatures", "ClinicalTable", "read_table"]

log = logging.getLogger(__name__)

USES = ("only", "fused")


@dataclass(frozen=True)
class Clinical:
    """The `clinical` config group's settings (`conf/clinical/*.yaml`)."""

    use: str
    model: str = "logistic"
    columns: Sequence[str] | None = None
    categorical: Sequence[str] = field(default_factory=tuple)
    synthetic_signal: float = 1.0

    def __post_init__(self) -> None:
        if self.use not in USES:
            raise ConfigError(f"clinical.use='{self.use}' must be one of {', '.join(USES)}")

    def features(self, data: ThermalData) -> ClinicalFeatures:
        """The run's table, checked against its patients and fitted on the training split;
        called right after the data is set up, before any training."""
        source = data.clinical_csv
        if source is None:
            if data.data_dir is not None:
                raise ConfigError(
                    f"clinical={self.use} needs data.clinical_csv (one row per patient, a "
                    "'patient' column matching the image file names) for data.data_dir"
                )
            source = ensure_clinical_table(data.root, self.synthetic_signal)
            log.info("Using the embedded clinical table at %s", source)
        columns = None if self.columns is None else list(self.columns)
        table = read_table(source, columns, list(self.categorical))
        table.require([record.patient for record, _ in data.rows])
        train = list(dict.fromkeys(record.patient for record in data.records("train")))
        fitted = ClinicalFeatures(table).fit(train)
        log.info("clinical features (%d): %s", len(fitted.names), ", ".join(fitted.names))
        return fitted
