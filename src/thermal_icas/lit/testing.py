"""What the pipeline's test needs from a trained classifier module: a split's per-image
predictions, and the checks of where the model looks (side scores, background effect, the
shortcut alarm)."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig

from thermal_icas.asymmetry import side_metrics
from thermal_icas.data.thermal_data import ThermalData
from thermal_icas.evaluation import Scores
from thermal_icas.explain.shortcut import mean_background_effect
from thermal_icas.lit.classifier import ClassifierModule, TestImages


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
    patients = [data.rows[i][0].patient for i in indices]
    sides = torch.cat([o["side"] for o in outputs]).tolist() if "side" in outputs[0] else None
    scores = Scores.of_images(patients, targets.tolist(), probs.double().tolist())
    return TestImages(scores, indices, sides)


def where_it_looks(
    explain: DictConfig, module: ClassifierModule, data: ThermalData, tested: TestImages
) -> dict[str, float]:
    """For the asymmetry arms the side accuracy of the blamed sides; with focus metrics the
    mean change of the test predictions when the background is removed."""
    assert data.classes is not None
    metrics: dict[str, float] = {}
    if tested.sides is not None:
        records = [data.rows[i][0] for i in tested.indices]
        positive = [r.label == data.classes.positive_index for r in records]
        paths, patients = [r.path for r in records], [r.patient for r in records]
        metrics.update(side_metrics(paths, patients, positive, tested.sides))
    if explain.focus_metrics:
        pre = data.preprocessor
        fill = (pre.background() - np.asarray(pre.mean)) / np.asarray(pre.std)
        positive_index = data.classes.positive_index
        metrics.update(
            mean_background_effect(module.model, data.loader("test"), fill, positive_index)
        )
    return metrics
