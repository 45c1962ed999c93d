"""Screening metrics and the validation-chosen decision threshold."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from thermal_icas.core.evaluation.bootstrap import BootstrapSettings
from thermal_icas.core.evaluation.evaluate import image_metrics
from thermal_icas.core.evaluation.metrics import METRICS, Metric, point_values
from thermal_icas.core.evaluation.patients import Scores
from thermal_icas.core.evaluation.stats import bootstrap_intervals
from thermal_icas.core.evaluation.thresholds import youden_threshold
from thermal_icas.train.lit.metrics import EpochMeans, finalize, screening_metrics


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
    from thermal_icas.analysis.plots import operating_point

    # the threshold 0.46 falls between scores 0.45 (a positive) and 0.6 (a negative)
    probs = torch.tensor([0.1, 0.2, 0.45, 0.6, 0.8, 0.9])
    targets = torch.tensor([0, 0, 1, 0, 1, 1])
    metrics = screening_metrics(0.46).clone(prefix="t/")
    metrics.update(probs, targets)
    values = metrics.compute()
    fpr, tpr = operating_point(probs, targets, 0.46)
    assert tpr == pytest.approx(float(values["t/sensitivity"])) == pytest.approx(2 / 3)
    assert fpr == pytest.approx(1 - float(values["t/specificity"])) == pytest.approx(1 / 3)


# --- the registry (evaluation.metrics) ------------------------------------------------------


def _scores(seed: int, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 3 == 0).astype(int)
    scores = np.round(np.clip(0.3 * labels + rng.uniform(0, 0.7, n), 0, 1), 2)  # with ties
    return scores, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_metrics_weighted_form_is_its_point_value_under_equal_weights(seed: int) -> None:
    scores, labels = _scores(seed)
    predicted = scores > 0.5
    for name, metric in METRICS.items():
        if metric.weighted is None:
            continue
        rows = np.ones((2, len(scores)))
        weighted = metric.weighted(scores, labels, predicted, rows)
        expected = [metric.point(scores, labels, predicted)] * 2
        assert weighted == pytest.approx(expected, abs=1e-12), name


def test_the_training_loops_image_metrics_agree_with_the_point_values() -> None:
    scores, labels = _scores(3)
    collection = screening_metrics(0.4)
    collection.update(torch.tensor(scores, dtype=torch.float32), torch.tensor(labels))
    computed = finalize(collection.compute(), "")
    expected = point_values(scores, labels, 0.4, patients=False)
    assert set(computed) == set(expected)
    for name, value in expected.items():
        assert float(computed[name]) == pytest.approx(value, abs=1e-6), name


def test_a_new_metric_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative predictive value, added only to the registry, reaches the image level (the
    training loop and the clinical arm's scores), the patient level and the bootstrap."""
    from torchmetrics.classification import BinaryNegativePredictiveValue

    def npv(scores: np.ndarray, labels: np.ndarray, predicted: np.ndarray) -> float:
        negative = ~predicted
        return float((negative & (labels == 0)).sum() / max(negative.sum(), 1))

    def weighted_npv(s: np.ndarray, y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
        return (w * (~p & (y == 0))).sum(1) / (w * ~p).sum(1)

    entry = Metric(
        "NPV",
        npv,
        weighted_npv,
        lambda threshold: BinaryNegativePredictiveValue(threshold=threshold),
        edge_bound=lambda n_pos, n_neg, level: 0.0,
    )
    monkeypatch.setitem(METRICS, "npv", entry)
    scores, labels = _scores(4)
    patients = Scores(np.array([f"p{i}" for i in range(40)]), labels, scores, np.ones(40, int))
    assert "npv" in screening_metrics(0.5)
    assert "test/npv" in image_metrics(patients, 0.5)
    settings = BootstrapSettings(n_resamples=200, seed=0)
    assert "npv" in bootstrap_intervals(scores, labels, patients.patients, 0.5, settings)
    assert "npv" in point_values(scores, labels, 0.5, patients=True)
