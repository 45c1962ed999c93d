"""A run's side outputs, as callbacks configured in `conf/callbacks`: what the data looks like
once it is masked, and the test's per-image predictions and figures. None of them changes a
number in metrics.json; switch one off with `callbacks.<group>.<name>=null`."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger

from thermal_icas import run_files
from thermal_icas.data.thermal_data import ThermalData
from thermal_icas.lit.classifier import ClassifierModule, TestImages
from thermal_icas.reporting.contact_sheet import contact_sheet
from thermal_icas.reporting.plots import plot_confusion, plot_roc
from thermal_icas.reporting.results import write_predictions


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
            sheet = contact_sheet(sample, data.preprocessor.mask, data.background())
            for board in boards:
                board.experiment.add_image("data/masked_inputs", sheet, 0, dataformats="HWC")


class TestReport(Callback):
    """A file the test leaves in the run folder; `write` gets the test's per-image predictions
    (made before the test pass, on the same checkpoint), the data they are of and the test's
    metrics (`test/threshold` is the val-chosen threshold, as logged)."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = Path(run_dir)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = trainer.datamodule
        if not (trainer.is_global_zero and isinstance(pl_module, ClassifierModule)):
            return
        tested = pl_module.test_images
        if tested is not None and isinstance(data, ThermalData):
            metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
            self.write(pl_module, data, tested, metrics)

    def write(
        self,
        module: ClassifierModule,
        data: ThermalData,
        tested: TestImages,
        metrics: dict[str, float],
    ) -> None:
        raise NotImplementedError


class TestPredictions(TestReport):
    """`test_predictions.csv`: one row per test image, with the side the model blames for the
    asymmetry arms, so errors can be traced back to patients and files."""

    def write(
        self,
        module: ClassifierModule,
        data: ThermalData,
        tested: TestImages,
        metrics: dict[str, float],
    ) -> None:
        assert data.classes is not None
        records = [data.rows[i][0] for i in tested.indices]
        probs = tested.scores.scores.tolist()
        path = self.run_dir / run_files.TEST_PREDICTIONS
        threshold = metrics["test/threshold"]
        write_predictions(path, records, probs, threshold, data.classes, tested.sides)


class TestPlots(TestReport):
    """`roc.png` with the val-chosen threshold's operating point, `confusion_matrix.png`."""

    def write(
        self,
        module: ClassifierModule,
        data: ThermalData,
        tested: TestImages,
        metrics: dict[str, float],
    ) -> None:
        assert data.classes is not None
        threshold = module.decision_threshold
        scores, targets = (
            torch.as_tensor(tested.scores.scores),
            torch.as_tensor(tested.scores.labels),
        )
        plot_roc(scores, targets, metrics["test/auroc"], threshold, self.run_dir / run_files.ROC)
        tn, fp, fn, tp = (int(metrics[f"test/{k}"]) for k in ("tn", "fp", "fn", "tp"))
        names = [data.classes.positive, data.classes.negative]
        plot_confusion([[tp, fn], [fp, tn]], names, self.run_dir / run_files.CONFUSION)
