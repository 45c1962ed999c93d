"""Stage 1's gauge: how well the encoder's frozen features tell the val patients' classes apart.

A linear probe trained online on the contrastive batches learned only the class prior, so it
said nothing about the encoder. Here the encoder's eval-mode features of the un-augmented
training and val images are read off every few epochs, a class-weighted logistic regression and
a class-balanced kNN are fitted on the training patients, and the val patients are scored. The
encoder never sees a gradient from this, so stage 1 stays as label-free as its loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import Tensor, nn
from torch.utils.data import DataLoader

from thermal_icas.core.evaluation.metrics import auroc
from thermal_icas.core.evaluation.patients import Scores, by_patient

PREFIX = "contrastive/"
# patient level (a patient's score is the mean of its images'), then image level
PROBE_METRICS = tuple(
    f"{PREFIX}{name}_auroc" for name in ("probe", "knn", "probe_image", "knn_image")
)


@dataclass(frozen=True)
class Features:
    """Pooled encoder features of a split's images, with their 0/1 targets and patients."""

    values: Tensor
    targets: np.ndarray
    patients: np.ndarray


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    loader: DataLoader,
    patients: Sequence[str],
    positive_index: int,
    device: torch.device,
) -> Features:
    """Eval-mode features of every image the loader yields; `patients` is indexed by the
    batches' row `index`. The encoder's train/eval mode is restored afterwards."""
    was_training = encoder.training
    encoder.eval()
    values, targets, rows = [], [], []
    try:
        for batch in loader:
            values.append(encoder(batch["image"].to(device)).float().cpu())
            targets.append((batch["label"] == positive_index).long())
            rows.append(batch["index"])
    finally:
        encoder.train(was_training)
    row = torch.cat(rows).tolist()
    return Features(
        torch.cat(values).double(),
        torch.cat(targets).numpy(),
        np.asarray([patients[i] for i in row], dtype=str),
    )


def logistic_scores(train: Features, val: Features) -> np.ndarray:
    """Positive-class probabilities of a standardised logistic regression whose classes weigh
    alike, so the 1:2 prior cannot carry it."""
    model = make_pipeline(
        StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000)
    )
    model.fit(train.values.numpy(), train.targets)
    return model.predict_proba(val.values.numpy())[:, 1]


def knn_scores(train: Features, val: Features, k: int) -> np.ndarray:
    """The share of the positive vote among each val image's k nearest training images by
    cosine similarity, each neighbour's vote divided by its class's size (a balanced vote)."""
    reference = nn.functional.normalize(train.values, dim=1)
    queries = nn.functional.normalize(val.values, dim=1)
    nearest = (queries @ reference.T).topk(min(k, len(reference)), dim=1).indices
    targets = torch.as_tensor(train.targets, dtype=torch.float64)
    positive = targets[nearest].sum(1)
    positive_vote = positive / targets.sum()
    negative_vote = (nearest.shape[1] - positive) / (len(targets) - targets.sum())
    return (positive_vote / (positive_vote + negative_vote)).numpy()


def probe_metrics(train: Features, val: Features, k: int) -> dict[str, float]:
    """Val AUROC of both probes, per patient (mean of its images' scores) and per image."""
    results = {}
    for name, scores in (
        ("probe", logistic_scores(train, val)),
        ("knn", knn_scores(train, val, k)),
    ):
        images = Scores.of_images(val.patients.tolist(), val.targets.tolist(), scores.tolist())
        patients = by_patient(images, "mean")
        results[f"{PREFIX}{name}_auroc"] = auroc(patients.scores, patients.labels)
        results[f"{PREFIX}{name}_image_auroc"] = auroc(images.scores, images.labels)
    return results


def probe_epochs(every: int | None, epochs: int) -> set[int]:
    """The (0-based) epochs after which the probes run: every `every`-th and the last."""
    step = every or epochs
    return {e for e in range(epochs) if (e + 1) % step == 0} | {epochs - 1}


class ProbeCallback(Callback):
    """Scores the encoder with both probes after the epochs `probe_epochs` names, on global
    rank 0 only, and logs `contrastive/*_auroc`.

    `results` holds the latest scores; they travel in the stage's checkpoints, so a fit resumed
    from its last epoch (which has no epoch left to run) still reports them. The generators'
    states are left as they were, so the probe's schedule does not change the training.
    """

    def __init__(
        self,
        train_loader: DataLoader,
        val_loader: DataLoader,
        patients: Sequence[str],
        positive_index: int,
        every: int | None,
        knn_k: int,
    ) -> None:
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.patients = list(patients)
        self.positive_index = positive_index
        self.every = every
        self.knn_k = knn_k
        self.results: dict[str, float] = {}

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        due = trainer.current_epoch in probe_epochs(self.every, trainer.max_epochs)
        if not (due and trainer.is_global_zero):
            return
        # a loader's iterator draws its seed from torch's generator: leave that state alone
        with torch.random.fork_rng(devices=[]):
            train = self._features(pl_module, self.train_loader)
            val = self._features(pl_module, self.val_loader)
        self.results = probe_metrics(train, val, self.knn_k)
        for key, value in self.results.items():
            pl_module.log(key, value, rank_zero_only=True, prog_bar=key in PROBE_METRICS[:2])

    def _features(self, pl_module: L.LightningModule, loader: DataLoader) -> Features:
        return extract_features(
            pl_module.encoder, loader, self.patients, self.positive_index, pl_module.device
        )

    def state_dict(self) -> dict[str, Any]:
        return {"results": dict(self.results)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.results = dict(state_dict["results"])
