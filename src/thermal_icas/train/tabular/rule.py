"""`rule=capistrant`: the clinical thermal rule, no training. A patient is positive when the
left-right difference of the supraorbital skin reaches 0.7 deg C (a unilateral forehead cooling
of at least 0.7 deg C: about 57% of angiography-proven internal carotid stenoses in Capistrant
and Gumnit, Stroke 1973). The score is the absolute value of the patient's mean left-minus-right
difference over its images, so the rule also has an AUROC; on pictures without temperatures the
difference is relative and its threshold is chosen on val (Youden), as any other arm's."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from thermal_icas.analysis.results import write_test_files
from thermal_icas.core.errors import ConfigError
from thermal_icas.core.evaluation import EvalSettings
from thermal_icas.core.evaluation.choice import choose
from thermal_icas.core.evaluation.evaluate import image_metrics, measure
from thermal_icas.core.evaluation.patients import Scores, by_patient
from thermal_icas.core.evaluation.thresholds import youden_threshold
from thermal_icas.core.physiology.regions import PAIRED
from thermal_icas.train.datamodule import ThermalData
from thermal_icas.train.tabular.only import broadcast
from thermal_icas.train.tabular.regions import PatientRegions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CapistrantRule:
    """conf/rule/capistrant.yaml: the paired `region` whose left-right difference decides, and
    the threshold in deg C on temperature data."""

    region: str = "supraorbital"
    threshold_celsius: float = 0.7

    def __post_init__(self) -> None:
        if self.region not in PAIRED:
            raise ConfigError(f"rule.region='{self.region}' must be one of {', '.join(PAIRED)}")
        if not self.threshold_celsius >= 0:
            raise ConfigError(f"rule.threshold_celsius={self.threshold_celsius} must be >= 0")

    def run(self, data: ThermalData, settings: EvalSettings, output_dir: Path) -> dict[str, float]:
        """Score every patient, decide at the threshold, test through `measure`."""
        assert data.classes is not None
        table = PatientRegions.of(data, output_dir)
        difference = table.column(f"{self.region}_difference", table.patients)
        unseen = np.isnan(difference)
        if unseen.any():
            log.warning("%d patients show no %s region: difference 0", unseen.sum(), self.region)
        score = dict(zip(table.patients, np.abs(np.nan_to_num(difference)).tolist(), strict=True))
        val, test = broadcast(data, "val", score), broadcast(data, "test", score)
        threshold = self._threshold(data, val)
        plain = replace(settings, calibrate="none")
        chosen = replace(choose(val, threshold, plain), patient_threshold=threshold)
        names = (data.classes.negative, data.classes.positive)
        sites = {record.patient: record.site for record in data.records("test")}
        metrics = image_metrics(test, threshold)
        tested = measure(test, chosen, plain, output_dir, names, sites, probabilities=False)
        metrics.update(tested.metrics)
        metrics["rule/threshold"] = threshold
        metrics["rule/celsius"] = float(data.reading.temperature)
        write_test_files(output_dir, data.records("test"), test, threshold, data.classes, metrics)
        return metrics

    def _threshold(self, data: ThermalData, val: Scores) -> float:
        """0.7 deg C on temperatures; on relative values the cut chosen on the val patients."""
        if data.reading.temperature:
            log.info(
                "rule=capistrant: positive at |%s left - right| > %.2f deg C",
                self.region,
                self.threshold_celsius,
            )
            return self.threshold_celsius
        patients = by_patient(val, "mean")  # every image carries its patient's score
        threshold = youden_threshold(patients.scores, patients.labels)
        log.info(
            "rule=capistrant on relative values: threshold %.4f (the picture's 0-1 scale) "
            "chosen on the val patients",
            threshold,
        )
        return threshold
