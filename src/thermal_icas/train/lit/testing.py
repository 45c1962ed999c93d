"""After stage 2: the threshold chosen on val, then the test of a trained classifier module,
per image and per patient with intervals, and the checks of where the model looks."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import torch

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
from thermal_icas.train.lit.classifier import ClassifierModule, TestImages

# leave one site out: the val patients (training sites) minus the test site's
UNSEEN_SITE = "test/unseen_site/patient/"


def threshold_and_test(
    trainer: L.Trainer,
    module: ClassifierModule,
    data: ThermalData,
    ckpt_path: str | None,
    settings: EvalSettings,
    checks: ShortcutChecks,
    output_dir: Path,
) -> dict[str, float]:
    """The threshold chosen on val, then the test: per image, per patient, with intervals,
    and where the model looks. The test callbacks write their reports as the test ends."""
    val = predict_split(trainer, module, data, "val", ckpt_path)
    module.decision_threshold = youden_threshold(val.scores.scores, val.scores.labels)
    module.test_images = predict_split(trainer, module, data, "test", ckpt_path)
    (results,) = trainer.test(module, datamodule=data, ckpt_path=ckpt_path, verbose=False)
    metrics = {key: float(value) for key, value in results.items()}
    assert data.classes is not None
    names = (data.classes.negative, data.classes.positive)
    tested = module.test_images
    result = evaluate(
        val.scores,
        tested.scores,
        module.decision_threshold,
        settings,
        output_dir,
        names,
        module.prior_shift,
        {record.patient: record.site for record in data.records("test")},
    )
    metrics.update(result.metrics)
    plot_reliability(result.reliability, settings.calibration_bins, output_dir / RELIABILITY)
    if data.site_folds and settings.aggregate != "none":
        inside, outside = (by_patient(s.scores, settings.aggregate) for s in (val, tested))
        metrics.update(unpaired_drop(inside, outside, settings.bootstrap, UNSEEN_SITE))
    metrics.update(where_it_looks(checks.focus_metrics, module, data, tested))
    shortcut_alarm(metrics, checks.min_in_face_lift, checks.max_background_effect)
    return metrics


def predict_split(
    trainer: L.Trainer,
    module: ClassifierModule,
    data: ThermalData,
    split: str,
    ckpt_path: str | None,
) -> TestImages:
    """A split's positive-class probabilities with each image's patient and target (as
    trained: permuted in a null run's val split), and for the asymmetry arms (test split
    only) the side each image is blamed on."""
    module.predict_sides = split == "test"
    outputs = trainer.predict(module, data.loader(split), ckpt_path=ckpt_path)
    assert outputs is not None
    probs, targets, index = (
        torch.cat([o[key] for o in outputs]).cpu() for key in ("prob", "target", "index")
    )
    indices = index.tolist()
    patients = [record.patient for record in data.records_at(indices)]
    sides = torch.cat([o["side"] for o in outputs]).tolist() if "side" in outputs[0] else None
    scores = Scores.of_images(patients, targets.tolist(), probs.double().tolist())
    return TestImages(scores, indices, sides)


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
