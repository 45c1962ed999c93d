"""Are the probabilities probabilities? Brier score, expected calibration error, temperature.

Class-weighted training (the default) shifts the raw probabilities towards the minority class,
so they are biased as estimates of risk even when they rank patients well; temperature scaling
fitted on val rescales their confidence (it keeps their order, so it changes no AUROC).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.optimize import minimize_scalar
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss
from torchmetrics.functional.classification import binary_calibration_error

from thermal_icas.reporting.plots import save_unit_square

EPS = 1e-6


def calibration_metrics(probs: np.ndarray, labels: np.ndarray, bins: int) -> dict[str, float]:
    """Brier score and the expected calibration error over `bins` equal-width bins."""
    ece = binary_calibration_error(
        torch.as_tensor(probs, dtype=torch.float64), torch.as_tensor(labels), n_bins=bins
    )
    return {"brier": float(brier_score_loss(labels, probs)), "ece": float(ece)}


def _logits(probs: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)): for a two-class softmax exactly the logit difference it came from."""
    clipped = np.clip(probs, EPS, 1 - EPS)
    return np.log(clipped / (1 - clipped))


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of sigmoid(logit / T)."""
    logits = _logits(np.asarray(probs, dtype=float))
    labels = np.asarray(labels, dtype=float)

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        return float(np.mean(np.logaddexp(0.0, z) - labels * z))

    return float(np.exp(minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded").x))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    return 1 / (1 + np.exp(-_logits(np.asarray(probs, dtype=float)) / temperature))


def plot_reliability(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], bins: int, path: Path
) -> None:
    """Observed positive rate against the mean predicted probability per bin, per curve."""
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8, label="calibrated")
    for name, (probs, labels) in curves.items():
        observed, predicted = calibration_curve(labels, probs, n_bins=bins, strategy="uniform")
        axes.plot(predicted, observed, marker="o", label=name)
    axes.set(
        xlabel="mean predicted probability",
        ylabel="observed share of positives",
        title="Test reliability",
    )
    save_unit_square(figure, axes, path, "upper left")
