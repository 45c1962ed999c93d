"""Binary screening metrics that report the positive (minority) class, never a weighted average."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.classification import BinaryConfusionMatrix

from thermal_icas.core.evaluation.metrics import METRICS


def screening_metrics(threshold: float = 0.5) -> MetricCollection:
    """The registry's per-image metrics (`evaluation.metrics`) on the positive-class
    probability; a sample is positive when p > threshold."""
    return MetricCollection(
        {name: metric.image(threshold) for name, metric in METRICS.items() if metric.image}
    )


class EpochMeans:
    """Sample-weighted epoch means of per-step training values, reduced once per epoch.

    Stands in for `self.log(..., on_epoch=True)` in training steps, each of which costs
    Lightning about a millisecond of host time: a tenth of a GPU training step that is bound by
    kernel launches. A step here only keeps its detached values; the epoch's end stacks them.
    """

    def __init__(self) -> None:
        self.values: dict[str, list[Tensor]] = {}
        self.sizes: list[int] = []

    def update(self, values: Mapping[str, Tensor], batch_size: int) -> None:
        for name, value in values.items():
            self.values.setdefault(name, []).append(value.detach())
        self.sizes.append(batch_size)

    def compute(
        self, sum_over_processes: Callable[[Tensor], Tensor] = lambda totals: totals
    ) -> dict[str, Tensor]:
        """The means; under DDP pass the strategy's sum so they cover the global batch."""
        if not self.sizes:
            return {}
        names = sorted(self.values)
        steps = [torch.stack(self.values[name]).float() for name in names]
        sizes = torch.tensor(self.sizes, dtype=torch.float32, device=steps[0].device)
        totals = torch.stack([*(values @ sizes for values in steps), sizes.sum()])
        totals = sum_over_processes(totals)
        return {name: totals[i] / totals[-1] for i, name in enumerate(names)}

    def reset(self) -> None:
        self.values = {}
        self.sizes = []


def finalize(values: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """Add balanced accuracy, which unlike accuracy cannot be won by ignoring the minority."""
    values = dict(values)
    values[f"{prefix}balanced_acc"] = (
        values[f"{prefix}sensitivity"] + values[f"{prefix}specificity"]
    ) / 2
    return values


def confusion_matrix(threshold: float) -> BinaryConfusionMatrix:
    return BinaryConfusionMatrix(threshold=threshold)
