"""After stage 2: one prediction pass over val and test, then from its tables the threshold
chosen on val, the test per image and per patient with intervals, the checks of where the model
looks and the test's reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torchmetrics.classification import BinaryConfusionMatrix

from thermal_icas.analysis.plots import plot_reliability
from thermal_icas.core.asymmetry import side_metrics
from thermal_icas.core.evaluation import EvalSettings, Scores, evaluate
from thermal_icas.core.evaluation.domain import unpaired_drop
from thermal_icas.core.evaluation.patients import by_patient
from thermal_icas.core.evaluation.thresholds import youden_threshold
from thermal_icas.core.explain.shortcut import (
    ShortcutChecks,
    mean_background_effect,
    shortcut_alarm,
)
from thermal_icas.core.run_files import RELIABILITY
from thermal_icas.train.datamodule import ThermalData
from thermal_icas.train.lit.classifier import PREDICTED_SPLITS, ClassifierModule, TestImages
from thermal_icas.train.lit.metrics import finalize, screening_metrics
from thermal_icas.train.lit.test_reports import TestOutcome, TestReport

# leave one site out: the val patients (training sites) minus the test site's
UNSEEN_SITE = "test/unseen_site/patient/"
# one batch of the prediction pass: prob, target, index (and side)
Batch = dict[str, Tensor]


def threshold_and_test(
    trainer: L.Trainer,
    module: ClassifierModule,
    data: ThermalData,
    ckpt_path: str | None,
    settings: EvalSettings,
    checks: ShortcutChecks,
    output_dir: Path,
    reports: Sequence[TestReport] = (),
) -> dict[str, float]:
    """One prediction pass over val and test on the tested checkpoint; from its tables the
    threshold chosen on val, the test per image and per patient with intervals, where the model
    looks (the background effect is a pass of its own, on face-only images) and the `reports`
    the test leaves in the run folder."""
    val_batches, test_batches = predict_splits(trainer, module, data, ckpt_path)
    # the prediction loop hands the module back in training mode: the background effect and the
    # reports' class maps read the tested model as it predicted
    module.eval()
    val, tested = _table(data, val_batches), _table(data, test_batches)
    threshold = youden_threshold(val.scores.scores, val.scores.labels)
    metrics = image_metrics(test_batches, threshold, module.take_test_focus())
    for logger in trainer.loggers:
        logger.log_metrics(metrics, step=trainer.global_step)
    assert data.classes is not None
    names = (data.classes.negative, data.classes.positive)
    sites = {record.patient: record.site for record in data.records("test")}
    result = evaluate(
        val.scores, tested.scores, threshold, settings, output_dir, names, module.prior_shift, sites
    )
    metrics.update(result.metrics)
    plot_reliability(result.reliability, settings.calibration_bins, output_dir / RELIABILITY)
    if data.site_folds and settings.aggregate != "none":
        inside, outside = (by_patient(s.scores, settings.aggregate) for s in (val, tested))
        metrics.update(unpaired_drop(inside, outside, settings.bootstrap, UNSEEN_SITE))
    metrics.update(where_it_looks(checks.focus_metrics, module, data, tested))
    shortcut_alarm(metrics, checks.min_in_face_lift, checks.max_background_effect)
    for report in reports:
        report.write(TestOutcome(module, data, tested, metrics))
    return metrics


def predict_splits(
    trainer: L.Trainer, module: ClassifierModule, data: ThermalData, ckpt_path: str | None
) -> list[list[Batch]]:
    """The prediction pass: each of `PREDICTED_SPLITS`' batches of positive-class probabilities
    with their targets (as trained: permuted in a null run's val split) and row indices, and
    for the asymmetry arms the side each test image is blamed on."""
    loaders = [data.loader(split) for split in PREDICTED_SPLITS]
    outputs = trainer.predict(module, loaders, ckpt_path=ckpt_path)
    assert outputs is not None
    return outputs  # type: ignore[return-value]


def _table(data: ThermalData, batches: Sequence[Batch]) -> TestImages:
    probs, targets, index = (
        torch.cat([o[key] for o in batches]).cpu() for key in ("prob", "target", "index")
    )
    indices = index.tolist()
    patients = [record.patient for record in data.records_at(indices)]
    sides = torch.cat([o["side"] for o in batches]).tolist() if "side" in batches[0] else None
    scores = Scores.of_images(patients, targets.tolist(), probs.double().tolist())
    return TestImages(scores, indices, sides)


def image_metrics(
    batches: Sequence[Batch], threshold: float, focus: Mapping[str, float]
) -> dict[str, float]:
    """The test per image at the val-chosen threshold (the registry's per-image modules, batch
    by batch, as for val in training), its confusion counts and the focus metrics: float32, as
    the per-image metric modules hold them."""
    metrics = screening_metrics(threshold).clone(prefix="test/")
    confusion = BinaryConfusionMatrix(threshold=threshold)
    for batch in batches:
        metrics.update(batch["prob"], batch["target"])
        confusion.update(batch["prob"], batch["target"])
    values: dict[str, object] = dict(finalize(metrics.compute(), "test/"))
    (tn, fp), (fn, tp) = confusion.compute().tolist()
    values.update({"test/tn": tn, "test/fp": fp, "test/fn": fn, "test/tp": tp})
    values.update({"test/threshold": threshold, **focus})
    return {
        key: float(torch.as_tensor(value, dtype=torch.float32)) for key, value in values.items()
    }


def where_it_looks(
    focus_metrics: bool, module: ClassifierModule, data: ThermalData, tested: TestImages
) -> dict[str, float]:
    """For the asymmetry arms the side accuracy of the blamed sides; with focus metrics the
    mean change of the test predictions when the background is removed."""
    assert data.classes is not None
    metrics: dict[str, float] = {}
    if tested.sides is not None:
        records = data.records_at(tested.indices)
        positive = [r.label == data.classes.positive_index for r in records]
        paths, patients = [r.path for r in records], [r.patient for r in records]
        metrics.update(side_metrics(paths, patients, positive, tested.sides))
    if focus_metrics:
        pre = data.preprocessor
        fill = (pre.background() - np.asarray(pre.mean)) / np.asarray(pre.std)
        positive_index = data.classes.positive_index
        metrics.update(
            mean_background_effect(
                module.model, data.loader("test"), fill, positive_index, module.clinical
            )
        )
    return metrics
