"""A run's side outputs, as callbacks configured in `conf/callbacks`: what the data looks like
once it is masked, and the test's per-image predictions and figures. None of them changes a
number in metrics.json; switch one off with `callbacks.<group>.<name>=null`."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger

from thermal_icas.analysis.contact_sheet import contact_sheet
from thermal_icas.analysis.plots import plot_confusion, plot_roc
from thermal_icas.analysis.results import write_predictions
from thermal_icas.core import run_files
from thermal_icas.train.datamodule import ThermalData
from thermal_icas.train.lit.test_reports import TestOutcome, TestReport


class DataSummary(Callback):
    """As fitting starts: mask coverage and fallbacks per split in every logger, and a sheet of
    `num_images` val images (image | mask | masked) in TensorBoard (`data/masked_inputs`)."""

    def __init__(self, num_images: int = 8) -> None:
        self.num_images = num_images

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = trainer.datamodule
        if not trainer.is_global_zero or not isinstance(data, ThermalData):
            return
        for logger in trainer.loggers:
            logger.log_metrics(data.mask_summary(), step=0)
        boards = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if boards:
            sample = [record.path for record in data.records("val")[: self.num_images]]
            sheet = contact_sheet(sample, data.preprocessor.mask, data.background(), data.reading)
            for board in boards:
                board.experiment.add_image("data/masked_inputs", sheet, 0, dataformats="HWC")


class TestPredictions(TestReport):
    """`test_predictions.csv`: one row per test image, with the side the model blames for the
    asymmetry arms, so errors can be traced back to patients and files."""

    def write(self, outcome: TestOutcome) -> None:
        write_predictions(
            self.run_dir / run_files.TEST_PREDICTIONS,
            outcome.records,
            outcome.probs,
            outcome.threshold,
            outcome.classes,
            outcome.images.sides,
        )


class TestPlots(TestReport):
    """`roc.png` with the val-chosen threshold's operating point, `confusion_matrix.png`."""

    def write(self, outcome: TestOutcome) -> None:
        scores = torch.as_tensor(outcome.images.scores.scores)
        targets = torch.as_tensor(outcome.images.scores.labels)
        auroc = outcome.metrics["test/auroc"]
        plot_roc(scores, targets, auroc, outcome.threshold, self.run_dir / run_files.ROC)
        tn, fp, fn, tp = (int(outcome.metrics[f"test/{k}"]) for k in ("tn", "fp", "fn", "tp"))
        names = [outcome.classes.positive, outcome.classes.negative]
        plot_confusion([[tp, fn], [fp, tn]], names, self.run_dir / run_files.CONFUSION)
