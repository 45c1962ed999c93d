"""What both stages' Lightning modules share."""

from __future__ import annotations

import lightning as L

from thermal_icas.train.lit.metrics import EpochMeans


class TrainingMeansModule(L.LightningModule):
    """Training steps record their values in `train_means` instead of calling `self.log`;
    the epoch's means, over all processes' samples, are logged once at its end."""

    def __init__(self) -> None:
        super().__init__()
        self.train_means = EpochMeans()

    def on_train_epoch_start(self) -> None:
        self.train_means.reset()

    def on_train_epoch_end(self) -> None:
        strategy = self.trainer.strategy
        means = self.train_means.compute(lambda totals: strategy.reduce(totals, reduce_op="sum"))
        self.log_dict(means, prog_bar=True)
