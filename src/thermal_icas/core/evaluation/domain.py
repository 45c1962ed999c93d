"""How much a model loses at a site it never trained on: the val patients (the training sites)
against the test patients (a held-out site, `data.site_folds`). They are different people, so
each set is resampled on its own; with the same people on both cameras (`eval.shift_dir`) the
drop is paired instead (`shift_test`), and much tighter."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from thermal_icas.core.evaluation.bootstrap import BootstrapSettings, Distribution, PatientDraw
from thermal_icas.core.evaluation.metrics import comparison_matrix, weighted_auroc
from thermal_icas.core.evaluation.patients import Scores, auroc


def _resampled(patients: Scores, settings: BootstrapSettings) -> np.ndarray:
    """The set's AUROC under each resample of its patients within their classes."""
    draw = PatientDraw.of(patients.patients, patients.labels, settings)
    kernel = comparison_matrix(patients.scores, patients.labels)
    return weighted_auroc(kernel, patients.labels, draw.weights(patients.patients))


def unpaired_drop(
    inside: Scores, outside: Scores, settings: BootstrapSettings, prefix: str
) -> dict[str, float]:
    """`<prefix>auroc_drop`: patient AUROC in-domain minus out-of-domain, with a percentile
    interval and p-value from independent stratified resamples of the two sets."""
    if min(len(np.unique(s.labels)) for s in (inside, outside)) < 2:
        return {}
    outside_settings = replace(settings, seed=settings.seed + 1)
    difference = _resampled(inside, settings) - _resampled(outside, outside_settings)
    observed = auroc(inside) - auroc(outside)
    distribution = Distribution(observed, difference, np.array([]), method="percentile")
    low, high = distribution.interval(settings.level)
    return {
        f"{prefix}auroc_drop": observed,
        f"{prefix}auroc_drop_ci_low": low,
        f"{prefix}auroc_drop_ci_high": high,
        f"{prefix}auroc_drop_p": distribution.p_value(0.0),
    }
