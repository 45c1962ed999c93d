"""Where the model looks, as callbacks: a TensorBoard grid of fixed val images once per epoch,
and the overlays of chosen test images in the run folder after the test."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger

from thermal_icas.core import run_files
from thermal_icas.core.data.datasets import CachedImageDataset
from thermal_icas.core.explain.maps import explain_batch
from thermal_icas.core.explain.overlay import explanation_rows
from thermal_icas.core.explain.report import write_explanations
from thermal_icas.train.lit.test_reports import TestOutcome, TestReport


class ExplanationGrid(Callback):
    """Logs `explain/val_grid`: input | face | class map | gate (with attention=on) for the first
    `num_images` validation images, the same images every epoch so the maps can be followed."""

    def __init__(self, num_images: int = 8, tile: int = 96) -> None:
        self.num_images = num_images
        self.tile = tile

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        boards = [lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)]
        if trainer.sanity_checking or not boards or not trainer.is_global_zero:
            return
        loaders = trainer.val_dataloaders
        dataset = getattr(loaders, "dataset", None)
        if not isinstance(dataset, CachedImageDataset) or dataset.faces is None:
            return
        indices = dataset.indices[: self.num_images]
        batch = torch.stack([dataset[i]["image"] for i in range(len(indices))])
        clinical = pl_module.clinical_of({"index": torch.as_tensor(indices)})
        maps = explain_batch(
            pl_module.model, batch.to(pl_module.device), *pl_module.explain_spec, clinical
        ).cpu()
        captions = [
            f"image {index}: class {int(dataset.labels[index])}, "
            f"predicted {int(p.argmax())} ({float(p.max()):.2f})"
            for index, p in zip(indices, maps.probs, strict=True)
        ]
        sheet = explanation_rows(
            dataset.images[indices],
            dataset.faces[indices],
            maps,
            captions,
            self.tile,
        )
        for board in boards:
            board.experiment.add_image(
                "explain/val_grid", sheet, trainer.current_epoch, dataformats="HWC"
            )


class TestExplanations(TestReport):
    """`explain/`: overlays of the first `examples_per_group` test images of each true class
    predicted right and wrong, `overview.png` and `index.csv` (see `write_explanations`)."""

    def __init__(self, run_dir: str, examples_per_group: int = 4, tile: int = 128) -> None:
        super().__init__(run_dir)
        self.examples_per_group = examples_per_group
        self.tile = tile

    def write(self, outcome: TestOutcome) -> None:
        dataset = outcome.data.dataset("test", train=False)
        assert isinstance(dataset, CachedImageDataset)
        write_explanations(
            self.run_dir / run_files.EXPLAIN_DIR,
            outcome.module.model,
            dataset,
            outcome.images.indices,
            outcome.records,
            outcome.probs,
            outcome.threshold,
            outcome.classes,
            *outcome.module.explain_spec,
            self.examples_per_group,
            self.tile,
            outcome.module.clinical,
        )
