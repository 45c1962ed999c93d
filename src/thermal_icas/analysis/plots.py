"""Figures a reader of the run directory looks at first: ROC curve, confusion matrix and the
reliability of the probabilities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from torch import Tensor
from torchmetrics.functional.classification import binary_roc


def plot_roc(probs: Tensor, targets: Tensor, auroc: float, threshold: float, path: Path) -> None:
    fpr, tpr, _ = binary_roc(probs, targets)
    point_fpr, point_tpr = operating_point(probs, targets, threshold)
    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    axes.plot(fpr.numpy(), tpr.numpy(), label=f"AUROC = {auroc:.3f}")
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    axes.scatter(
        [point_fpr],
        [point_tpr],
        color="red",
        zorder=3,
        label=f"threshold = {threshold:.3f}",
    )
    axes.set(xlabel="1 - specificity", ylabel="sensitivity", title="Test ROC")
    save_unit_square(figure, axes, path, "lower right", top=1.01)


def operating_point(probs: Tensor, targets: Tensor, threshold: float) -> tuple[float, float]:
    """(1 - specificity, sensitivity) of the rule the run applies, positive when p > threshold;
    the ROC curve's own thresholds use p >= score, so the point is not looked up on it."""
    predicted = probs > threshold
    positives = targets.bool()
    false_positive_rate = (predicted & ~positives).sum() / (~positives).sum().clamp(min=1)
    true_positive_rate = (predicted & positives).sum() / positives.sum().clamp(min=1)
    return float(false_positive_rate), float(true_positive_rate)


def plot_confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str], path: Path) -> None:
    """Rows are the true class, columns the prediction, in the order given by `labels`."""
    figure, axes = plt.subplots(figsize=(4, 3.6))
    # the colour scale starts at 0, so a cell's shade (and its text colour) follows its count
    # alone: imshow's own scale (min to max) left the smaller of two close counts white on white
    counts = [value for values in matrix for value in values]
    axes.imshow(matrix, cmap="Blues", vmin=0, vmax=max(max(counts), 1))
    dark = max(counts) / 2
    for row, values in enumerate(matrix):
        for column, value in enumerate(values):
            colour = "white" if value > dark else "black"
            axes.text(column, row, str(value), ha="center", va="center", fontsize=12, color=colour)
    axes.set(
        xticks=range(len(labels)),
        yticks=range(len(labels)),
        xticklabels=labels,
        yticklabels=labels,
        xlabel="predicted",
        ylabel="true",
        title="Test confusion matrix",
    )
    save(figure, path)


def save_unit_square(figure: Figure, axes: Axes, path: Path, legend: str, top: float = 1.0) -> None:
    """A curve plot over [0, 1] x [0, top], with its legend, saved and closed."""
    axes.set(xlim=(0, 1), ylim=(0, top))
    axes.legend(loc=legend, fontsize="small")
    save(figure, path)


def save(figure: Figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


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
