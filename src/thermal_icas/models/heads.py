"""Small heads on top of the encoder: one per training stage."""

from __future__ import annotations

from torch import Tensor, nn

from thermal_icas.models.encoder import ThermalEncoder


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
    """Stage 2 model: encoder, dropout, linear layer to class logits."""

    def __init__(self, encoder: ThermalEncoder, num_classes: int = 2, dropout: float = 0.3) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(encoder.out_dim, num_classes))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x))
