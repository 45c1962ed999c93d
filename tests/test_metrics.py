"""Screening metrics and the validation-chosen decision threshold."""

from __future__ import annotations

import pytest
import torch

from thermal_icas.evaluation.thresholds import youden_threshold
from thermal_icas.lit.metrics import EpochMeans, finalize, screening_metrics


def test_youden_threshold_separates_separable_scores() -> None:
    probs = torch.tensor([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    targets = torch.tensor([0, 0, 0, 1, 1, 1])
    threshold = youden_threshold(probs, targets)
    assert 0.3 < threshold < 0.6
    assert torch.equal((probs > threshold).long(), targets)


def test_youden_threshold_single_class_falls_back() -> None:
    assert youden_threshold(torch.tensor([0.2, 0.8]), torch.tensor([1, 1])) == 0.5


def test_metrics_report_the_minority_class() -> None:
    # 2 positives, 8 negatives; predicting "negative" for everything is 80% accurate
    probs = torch.full((10,), 0.1)
    targets = torch.tensor([1, 1] + [0] * 8)
    metrics = screening_metrics(0.5).clone(prefix="test/")
    metrics.update(probs, targets)
    values = finalize(metrics.compute(), "test/")
    assert float(values["test/acc"]) == pytest.approx(0.8)
    assert float(values["test/sensitivity"]) == 0.0
    assert float(values["test/specificity"]) == 1.0
    assert float(values["test/balanced_acc"]) == pytest.approx(0.5)
    assert float(values["test/f1"]) == 0.0


def test_epoch_means_weight_each_step_by_its_samples_and_sum_over_processes() -> None:
    means = EpochMeans()
    means.update({"loss": torch.tensor(1.0), "acc": torch.tensor(0.5)}, batch_size=3)
    means.update({"loss": torch.tensor(3.0), "acc": torch.tensor(1.0)}, batch_size=1)
    values = means.compute()
    assert values["loss"].item() == pytest.approx(1.5)
    assert values["acc"].item() == pytest.approx(0.625)
    # another process that saw 4 samples of loss 0.5: a global mean over 8 samples
    other = torch.tensor([0.5 * 4, 0.5 * 4, 4.0])
    values = means.compute(lambda totals: totals + other)
    assert values["loss"].item() == pytest.approx((6.0 + 2.0) / 8)
    means.reset()
    assert means.compute() == {}


def test_the_roc_plot_marks_the_operating_point_of_the_applied_threshold() -> None:
    from thermal_icas.reporting.plots import operating_point

    # the threshold 0.46 falls between scores 0.45 (a positive) and 0.6 (a negative)
    probs = torch.tensor([0.1, 0.2, 0.45, 0.6, 0.8, 0.9])
    targets = torch.tensor([0, 0, 1, 0, 1, 1])
    metrics = screening_metrics(0.46).clone(prefix="t/")
    metrics.update(probs, targets)
    values = metrics.compute()
    fpr, tpr = operating_point(probs, targets, 0.46)
    assert tpr == pytest.approx(float(values["t/sensitivity"])) == pytest.approx(2 / 3)
    assert fpr == pytest.approx(1 - float(values["t/specificity"])) == pytest.approx(1 / 3)
