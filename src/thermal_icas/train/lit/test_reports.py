"""The base of the files a test leaves in the run folder (`callbacks.outputs`,
`callbacks.explanations`): `write` gets what the test saw."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from thermal_icas.core.data.classes import ClassInfo
from thermal_icas.core.data.records import ImageRecord
from thermal_icas.train.datamodule import ThermalData
from thermal_icas.train.lit.classifier import ClassifierModule, TestImages


@dataclass(frozen=True)
class TestOutcome:
    """What a test report reads: the tested module, the data, the test's per-image predictions
    and the test's metrics."""

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


class TestReport(ABC):
    """A file the test leaves in the run folder (`conf/callbacks` group `test`), written from
    the test's outcome once its metrics are known."""

    def __init__(self, run_dir: str) -> None:
        self.run_dir = Path(run_dir)

    @abstractmethod
    def write(self, outcome: TestOutcome) -> None: ...
