"""Small heads on top of the encoder: one per training stage."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from thermal_icas.core.models.encoder import ThermalEncoder


class ProjectionHead(nn.Module):
    """Stage 1 MLP; contrastive losses act on its output, the encoder keeps the richer features.

    Near-identical thermal faces invite a collapse of every embedding onto one point, where the
    contrastive gradient vanishes. Batch-normalising the hidden and the output layer (the latter
    without affine terms) rules that point out: embeddings must spread across the batch.
    """

    def __init__(self, in_dim: int, out_dim: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, in_dim),
            nn.BatchNorm1d(in_dim),
            nn.ReLU(inplace=True),
            nn.Linear(in_dim, out_dim),
            nn.BatchNorm1d(out_dim, affine=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ThermalClassifier(nn.Module):
    """Stage 2 model: encoder, dropout, linear layer to class logits.

    With `clinical_dim` (`clinical=fused`) the patient's clinical features are joined to the
    image features before the head, and every call must pass them. With `tta_flip`
    (`model.tta_flip`) an evaluating model averages the logits of a face and its mirror image,
    so a model that is not mirror-invariant (`asymmetry.fusion=difference|early`) scores both
    sides' readings alike; training sees single images, the flip augmentation serves mirrors.
    """

    def __init__(
        self,
        encoder: ThermalEncoder,
        num_classes: int = 2,
        dropout: float = 0.3,
        clinical_dim: int = 0,
        tta_flip: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.clinical_dim = clinical_dim
        self.tta_flip = tta_flip
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(encoder.out_dim + clinical_dim, num_classes)
        )

    def forward(self, x: Tensor, clinical: Tensor | None = None) -> Tensor:
        logits = self.classify(self.encoder(x), clinical)
        if self.tta_flip and not self.training:
            logits = (logits + self.classify(self.encoder(x.flip(-1)), clinical)) / 2
        return logits

    def classify(self, features: Tensor, clinical: Tensor | None = None) -> Tensor:
        """Logits from the encoder's features (and the clinical features, if fused)."""
        if self.clinical_dim:
            if clinical is None or clinical.shape != (len(features), self.clinical_dim):
                raise ValueError(
                    f"this classifier joins {self.clinical_dim} clinical features per image to "
                    f"its image features; got {None if clinical is None else tuple(clinical.shape)}"
                )
            features = torch.cat([features, clinical.to(features)], dim=1)
        return self.head(features)
