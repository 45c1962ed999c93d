"""Are the probabilities probabilities? Brier score, expected calibration error, calibration
slope and intercept, and three recalibrations that keep the order (so they change no AUROC).

Class-weighted training (the default) shifts every logit by log(w_pos / w_neg): the raw
probabilities lean towards the minority class even when they rank patients well. `prior`
removes exactly that shift (no fit); `platt` fits an intercept and a slope on val; `temperature`
fits a slope alone, which keeps logit 0 fixed and so cannot remove a shift.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import minimize, minimize_scalar
from sklearn.metrics import brier_score_loss
from torchmetrics.functional.classification import binary_calibration_error

EPS = 1e-6


CALIBRATIONS = ("prior", "platt", "temperature", "none")
# a perfectly separated split has an infinite slope: the fits stop at this magnitude
MAX_COEFFICIENT = 50.0


def calibration_metrics(probs: np.ndarray, labels: np.ndarray, bins: int) -> dict[str, float]:
    """Brier score, the expected calibration error over `bins` equal-width bins, and the
    calibration slope (1 is ideal; below 1, too confident) and intercept (calibration in the
    large, the slope held at 1; 0 is ideal, above 0 the probabilities are too low)."""
    ece = binary_calibration_error(
        torch.as_tensor(probs, dtype=torch.float64), torch.as_tensor(labels), n_bins=bins
    )
    logits = _logits(np.asarray(probs, dtype=float))
    _, slope = fit_logistic(logits, labels)
    intercept, _ = fit_logistic(logits, labels, slope=1.0)
    return {
        "brier": float(brier_score_loss(labels, probs)),
        "ece": float(ece),
        "calibration_slope": slope,
        "calibration_intercept": intercept,
    }


def _logits(probs: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)): for a two-class softmax exactly the logit difference it came from."""
    clipped = np.clip(probs, EPS, 1 - EPS)
    return np.log(clipped / (1 - clipped))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def fit_logistic(
    logits: np.ndarray, labels: np.ndarray, slope: float | None = None
) -> tuple[float, float]:
    """Maximum-likelihood (intercept, slope) of P(y = 1) = sigmoid(intercept + slope * logit);
    with `slope` given, the intercept alone."""
    x, y = np.asarray(logits, dtype=float), np.asarray(labels, dtype=float)

    def nll(params: np.ndarray) -> float:
        z = params[0] + (params[1] if slope is None else slope) * x
        return float(np.mean(np.logaddexp(0.0, z) - y * z))

    start = np.array([0.0, 1.0]) if slope is None else np.array([0.0])
    bounds = [(-MAX_COEFFICIENT, MAX_COEFFICIENT)] * len(start)
    fitted = minimize(nll, start, method="L-BFGS-B", bounds=bounds).x
    return float(fitted[0]), float(fitted[1]) if slope is None else float(slope)


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of sigmoid(logit / T)."""
    logits = _logits(np.asarray(probs, dtype=float))
    labels = np.asarray(labels, dtype=float)

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        return float(np.mean(np.logaddexp(0.0, z) - labels * z))

    return float(np.exp(minimize_scalar(nll, bounds=(-4.0, 4.0), method="bounded").x))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    return _sigmoid(_logits(np.asarray(probs, dtype=float)) / temperature)


def fit_calibration(
    method: str, val_probs: np.ndarray, val_labels: np.ndarray, prior_shift: float
) -> tuple[float, float]:
    """(intercept, slope) on the logit scale for `method`: `prior` subtracts `prior_shift`
    (log(w_pos / w_neg) of the training class weights), `platt` fits both on val,
    `temperature` fits the slope 1 / T on val."""
    if method == "prior":
        return -prior_shift, 1.0
    if method == "platt":
        return fit_logistic(_logits(np.asarray(val_probs, dtype=float)), val_labels)
    if method == "temperature":
        return 0.0, 1.0 / fit_temperature(val_probs, val_labels)
    raise ValueError(f"no calibration '{method}' (one of {CALIBRATIONS})")


def apply_calibration(probs: np.ndarray, intercept: float, slope: float) -> np.ndarray:
    return _sigmoid(intercept + slope * _logits(np.asarray(probs, dtype=float)))
