"""The base of the files a test leaves in the run folder (`reporting.callbacks`,
`explain.callback`): a callback that, as the test ends, hands `write` what the test saw."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from thermal_icas.core.data.classes import ClassInfo
from thermal_icas.core.data.records import ImageRecord
from thermal_icas.train.datamodule import ThermalData
from thermal_icas.train.lit.classifier import ClassifierModule, TestImages


@dataclass(frozen=True)
class TestOutcome:
    """What a test report reads: the tested module, the data, the test's per-image predictions
    (made before the test pass, on the same checkpoint) and the test's metrics."""

    module: ClassifierModule
    data: ThermalData
    images: TestImages
    metrics: dict[str, float]

    @property
    def records(self) -> list[ImageRecord]:
        return self.data.records_at(self.images.indices)

    @property
    def probs(self) -> list[float]:
        return self.images.scores.scores.tolist()

    @property
    def threshold(self) -> float:
        """The val-chosen threshold, as the test logged it."""
        return self.metrics["test/threshold"]

    @property
    def classes(self) -> ClassInfo:
        assert self.data.classes is not None
        return self.data.classes


class TestReport(Callback, ABC):
    """A file the test leaves in the run folder, written by `write` as the test ends."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = Path(run_dir)

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = trainer.datamodule
        if not (trainer.is_global_zero and isinstance(pl_module, ClassifierModule)):
            return
        if pl_module.test_images is not None and isinstance(data, ThermalData):
            metrics = {key: float(value) for key, value in trainer.callback_metrics.items()}
            self.write(TestOutcome(pl_module, data, pl_module.test_images, metrics))

    @abstractmethod
    def write(self, outcome: TestOutcome) -> None: ...
