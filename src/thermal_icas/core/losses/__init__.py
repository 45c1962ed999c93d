"""Training losses: each maps two views' projections (and optionally labels) to a scalar."""

from thermal_icas.core.losses.distributed import gather_labels, gather_with_grad
from thermal_icas.core.losses.ntxent import NTXentLoss
from thermal_icas.core.losses.pair_margin import PairMarginLoss
from thermal_icas.core.losses.supcon import SupConLoss

__all__ = [
    "NTXentLoss",
    "PairMarginLoss",
    "SupConLoss",
    "gather_labels",
    "gather_with_grad",
]
