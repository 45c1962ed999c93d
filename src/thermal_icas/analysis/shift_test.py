"""The run's test patients as another camera shows them (`eval.shift_dir`): in-domain and
out-of-domain side by side, and the drop between them, paired by patient.

`eval.shift_dir` is a folder laid out like data_dir (the run's class folders, the same patient
ids) holding the same people's images from a second camera or site. Once the run is tested,
its test patients' images there are scored as `validate.py` scores a new cohort, with every
choice the val split made kept (`shift/` in the run folder, with its own report); the run's
metrics gain `shift/patient/*` and the drop `shift/patient/auroc_drop` (test on the training
camera minus test on the other, the same patients, so patient-to-patient variation cancels).
The patients' images on the training camera are the in-domain score, val is reported beside
them as it always is.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from thermal_icas.analysis.trained_run import load_run
from thermal_icas.analysis.validation import validate
from thermal_icas.core import run_files
from thermal_icas.core.evaluation import EvalSettings
from thermal_icas.core.evaluation.compare import PatientSet, paired_difference, pool
from thermal_icas.core.evaluation.patients import read_patients

SHIFT_DIR = "shift"
# what the run's metrics keep of the shifted test's (renamed test/ -> shift/)
KEPT = ("test/patient/", "test/auroc", "external/capture_auroc")
log = logging.getLogger(__name__)


def score_shift(run_dir: Path, shift_dir: str, cache_dir: Path) -> dict[str, float]:
    """Score the run's test patients' images in `shift_dir` (into run_dir/shift/) and compare
    them with the run's own test, patient by patient."""
    run = load_run(run_dir)
    patients = patients_in_test(run_dir / run_files.SPLITS)
    folder = run_dir / SHIFT_DIR
    shifted = validate(run, shift_dir, folder, cache_dir=cache_dir, patients=patients)
    metrics = {
        f"shift/{key.removeprefix('test/').removeprefix('external/')}": value
        for key, value in shifted.items()
        if key.startswith(KEPT)
    }
    own, other = run_dir / run_files.TEST_PATIENTS, folder / run_files.TEST_PATIENTS
    if not (own.is_file() and other.is_file()):
        log.warning("eval.aggregate=none: no patient scores, so no paired drop (eval.shift_dir)")
        return metrics
    settings = run.eval_settings()
    metrics.update(auroc_drop(own, other, settings))
    _log(metrics)
    return metrics


def patients_in_test(splits: Path) -> set[str]:
    with splits.open(newline="") as handle:
        return {row["patient"] for row in csv.DictReader(handle) if row["split"] == "test"}


def patient_set(path: Path) -> PatientSet:
    return pool([read_patients(path)], str(path))


def auroc_drop(in_domain: Path, out_of_domain: Path, settings: EvalSettings) -> dict[str, float]:
    """In-domain minus out-of-domain patient AUROC on the patients both scored, with the
    paired bootstrap's interval and p-value."""
    pair = (patient_set(in_domain), patient_set(out_of_domain))
    drop = paired_difference([pair], settings.bootstrap).estimates["auroc"]
    low, high = drop.ci
    return {
        "shift/patient/auroc_drop": drop.value,
        "shift/patient/auroc_drop_ci_low": low,
        "shift/patient/auroc_drop_ci_high": high,
        "shift/patient/auroc_drop_p": float("nan") if drop.p is None else drop.p,
        "shift/patient/n_paired": float(drop.n_patients),
    }


def _log(metrics: dict[str, float]) -> None:
    if "shift/patient/auroc" not in metrics:
        return
    log.info(
        "Another camera (eval.shift_dir): test patient AUROC %.3f [%.3f, %.3f]; drop from the "
        "training camera's %+.3f [%+.3f, %+.3f] over %d patients",
        metrics["shift/patient/auroc"],
        metrics.get("shift/patient/auroc_ci_low", float("nan")),
        metrics.get("shift/patient/auroc_ci_high", float("nan")),
        metrics["shift/patient/auroc_drop"],
        metrics["shift/patient/auroc_drop_ci_low"],
        metrics["shift/patient/auroc_drop_ci_high"],
        metrics["shift/patient/n_paired"],
    )
