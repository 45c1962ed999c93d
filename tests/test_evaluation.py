"""Patient-level evaluation: the cluster bootstrap, DeLong, thresholds, calibration, evaluate()."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm
from sklearn.metrics import average_precision_score, roc_auc_score

from thermal_icas.core.errors import ConfigError
from thermal_icas.core.evaluation import EvalSettings, Scores, by_patient, evaluate
from thermal_icas.core.evaluation.bootstrap import (
    BootstrapSettings,
    Distribution,
    PatientDraw,
    holm,
    perfect_auroc_bound,
    proportion_bound,
)
from thermal_icas.core.evaluation.calibration import (
    apply_calibration,
    apply_temperature,
    calibration_metrics,
    fit_calibration,
    fit_temperature,
)
from thermal_icas.core.evaluation.metrics import (
    comparison_matrix,
    weighted_auroc,
    weighted_average_precision,
)
from thermal_icas.core.evaluation.patients import PATIENT_COLUMNS, read_patients, write_patients
from thermal_icas.core.evaluation.stats import (
    bootstrap_intervals,
    delong,
    delong_interval,
    delong_paired_p,
)
from thermal_icas.core.evaluation.thresholds import threshold_for, youden_threshold


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def _patient_cohort(
    rng: np.random.Generator, n_patients: int, shift: float = 1.5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """~1:2 positives:negatives, one score per patient: N(0, 1) shifted for positives."""
    labels = (np.arange(n_patients) % 3 == 0).astype(int)
    scores = rng.normal(size=n_patients) + shift * labels
    groups = np.array([f"p{i:03d}" for i in range(n_patients)])
    return scores, labels, groups


def _images(rng: np.random.Generator, n_patients: int, prefix: str) -> Scores:
    """2 to 4 images per patient, a third of the patients positive, probabilities in (0, 1)."""
    patients, labels, scores = [], [], []
    for i in range(n_patients):
        label = int(i % 3 == 0)
        level = rng.normal() + 1.5 * label
        for _ in range(2 + i % 3):
            patients.append(f"{prefix}{i:02d}")
            labels.append(label)
            scores.append(float(_sigmoid(level + 0.5 * rng.normal())))
    return Scores.of_images(patients, labels, scores)


# --- the cluster bootstrap -------------------------------------------------------------------


def test_cluster_weights_keep_a_patients_images_together_and_stratify_by_class() -> None:
    # patient a has 4 images; 3 negative patients (a, b, c) and 2 positive ones (d, e)
    groups = np.array(["a", "b", "a", "c", "d", "a", "e", "e", "a", "d"])
    labels = np.array([0, 0, 0, 0, 1, 0, 1, 1, 0, 1])
    weights = PatientDraw.of(groups, labels, BootstrapSettings(500, seed=0)).weights(groups)
    assert weights.shape == (500, len(groups))
    for patient in np.unique(groups):
        images = weights[:, groups == patient]
        assert (images == images[:, :1]).all(), f"images of {patient} drawn apart"
    # a patient counts once per draw: its multiplicity is that of any one of its images
    multiplicity = {patient: weights[:, list(groups).index(patient)] for patient in "abcde"}
    negatives = multiplicity["a"] + multiplicity["b"] + multiplicity["c"]
    positives = multiplicity["d"] + multiplicity["e"]
    assert (negatives == 3).all()
    assert (positives == 2).all()
    # the weights are multiplicities, and resamples differ
    assert np.array_equal(weights, np.round(weights))
    assert len({tuple(row) for row in weights}) > 1
    # patient a's 4 images together weigh 4 per draw on average, not 1
    assert weights[:, groups == "a"].sum(1).mean() == pytest.approx(4.0, abs=0.3)


def test_a_perfect_classifier_gets_one_sided_intervals_not_one_to_one() -> None:
    labels = np.array([0, 0, 0, 0, 1, 1, 1, 0, 1, 0])
    scores = np.where(labels == 1, 0.9, 0.1) + np.linspace(0, 0.05, 10)
    # 3 positive patients (d, e, g) and 5 negative ones
    groups = np.array(["a", "a", "b", "c", "d", "d", "e", "f", "g", "h"])
    settings = BootstrapSettings(n_resamples=300, seed=1)
    intervals = bootstrap_intervals(scores, labels, groups, 0.5, settings)
    assert intervals["auroc"] == (perfect_auroc_bound(3, 5, 0.95), 1.0)
    assert 0.5 < intervals["auroc"][0] < 1
    assert 0 < intervals["auprc"][0] < 1 and intervals["auprc"][1] == 1.0
    # Clopper-Pearson on the patients of the class: 3 of 3 and 5 of 5
    assert intervals["sensitivity"] == pytest.approx((0.025 ** (1 / 3), 1.0))
    assert intervals["specificity"] == pytest.approx((0.025 ** (1 / 5), 1.0))
    assert proportion_bound(3, 0.95) == pytest.approx(0.025 ** (1 / 3))


def test_a_constant_classifier_has_an_auroc_interval_of_one_half() -> None:
    labels = np.array([0, 1, 0, 0, 1, 0, 1, 0, 0])
    groups = np.array([f"p{i}" for i in range(len(labels))])
    settings = BootstrapSettings(n_resamples=300, seed=1)
    intervals = bootstrap_intervals(np.full(len(labels), 0.3), labels, groups, 0.5, settings)
    low, high = intervals["auroc"]
    assert low <= 0.5 <= high
    assert (low, high) == (0.5, 0.5)
    # 0 of 3 positives found, 6 of 6 negatives cleared: one-sided, by patients
    assert intervals["sensitivity"] == pytest.approx((0.0, 1 - 0.025 ** (1 / 3)))
    assert intervals["specificity"] == pytest.approx((0.025 ** (1 / 6), 1.0))


def test_perfect_separation_bound_leaves_the_chance_it_names() -> None:
    """Under the binormal AUROC at the bound, perfect separation of 12 vs 24 happens in 2.5%
    of samples (checked by simulation), and the bound rises with the class sizes."""
    bound = perfect_auroc_bound(12, 24, 0.95)
    shift = np.sqrt(2) * norm.ppf(bound)
    rng = np.random.default_rng(0)
    positives = rng.normal(shift, 1, (40_000, 12)).min(1)
    negatives = rng.normal(0, 1, (40_000, 24)).max(1)
    assert (positives > negatives).mean() == pytest.approx(0.025, abs=0.004)
    assert perfect_auroc_bound(5, 10, 0.95) < bound < perfect_auroc_bound(40, 80, 0.95) < 1


def test_p_value_agrees_with_the_percentile_interval() -> None:
    """p < 1 - level exactly when the percentile interval at that level excludes 0; BCa without
    bias or skew is the percentile interval, and moves with a biased observed value."""
    rng = np.random.default_rng(2)
    for shift in np.linspace(-0.3, 0.3, 25):
        resampled = rng.gamma(4.0, 0.05, 3000) - 0.2 + shift
        distribution = Distribution(0.0, resampled, np.zeros(3), "percentile")
        low, high = distribution.interval(0.95)
        p = distribution.p_value(0.0)
        if abs(p - 0.05) > 0.002:
            assert (p < 0.05) == (low > 0 or high < 0)
    symmetric = Distribution(0.0, rng.normal(0, 1, 20_000), np.linspace(-1, 1, 31))
    plain = replace(symmetric, method="percentile").interval(0.95)
    assert symmetric.interval(0.95) == pytest.approx(plain, abs=0.03)
    shifted = replace(symmetric, observed=0.3).interval(0.95)
    assert shifted[0] > plain[0] + 0.2 and shifted[1] > plain[1] + 0.2


def test_holm_adjustment() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5]) == pytest.approx([0.5])
    adjusted = holm([0.2, float("nan"), 0.01])
    assert adjusted[[0, 2]] == pytest.approx([0.2, 0.02])
    assert np.isnan(adjusted[1])


def test_weighted_auroc_with_unit_weights_is_sklearns_auroc_ties_included() -> None:
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 60)
    scores = np.round(rng.normal(size=60) + labels, 1)  # rounding makes ties
    assert len(np.unique(scores)) < len(scores)
    kernel = comparison_matrix(scores, labels)
    auroc = weighted_auroc(kernel, labels, np.ones((2, 60)))
    assert auroc == pytest.approx([roc_auc_score(labels, scores)] * 2, abs=1e-12)


def test_weighted_auroc_counts_a_doubled_sample_twice() -> None:
    labels = np.array([0, 0, 1, 1])
    scores = np.array([0.1, 0.6, 0.5, 0.9])
    weights = np.array([[1.0, 2.0, 1.0, 1.0]])
    expected = roc_auc_score(np.r_[labels, 0], np.r_[scores, 0.6])
    assert weighted_auroc(comparison_matrix(scores, labels), labels, weights)[0] == pytest.approx(
        expected
    )


# --- DeLong ----------------------------------------------------------------------------------


def test_delong_interval_agrees_with_the_patient_bootstrap() -> None:
    scores, labels, groups = _patient_cohort(np.random.default_rng(7), 200)
    settings = BootstrapSettings(n_resamples=4000, level=0.95, seed=0)
    boot_low, boot_high = bootstrap_intervals(scores, labels, groups, 0.0, settings)["auroc"]
    low, high = delong_interval(scores, labels, 0.95)
    auroc = roc_auc_score(labels, scores)
    assert low < auroc < high
    assert 0.05 < high - low < 0.3  # a real interval, not a degenerate one
    assert low == pytest.approx(boot_low, abs=0.02)
    assert high == pytest.approx(boot_high, abs=0.02)
    # a wider level gives a wider interval
    wide_low, wide_high = delong_interval(scores, labels, 0.99)
    assert wide_low < low and wide_high > high


def test_delong_interval_is_on_the_logit_scale() -> None:
    scores, labels, _ = _patient_cohort(np.random.default_rng(3), 36, shift=2.5)
    auroc = roc_auc_score(labels, scores)
    low, high = delong_interval(scores, labels)
    assert 0.9 < auroc < 1 and low < auroc < high < 1
    assert high - auroc < auroc - low, "skewed towards the bound it cannot pass"
    perfect = np.where(labels == 1, 5.0, 0.0) + np.linspace(0, 1, 36)
    assert delong_interval(perfect, labels) == (perfect_auroc_bound(12, 24, 0.95), 1.0)


def test_delong_auroc_is_sklearns_with_and_without_ties() -> None:
    rng = np.random.default_rng(11)
    labels = rng.integers(0, 2, 80)
    smooth = rng.normal(size=80) + labels
    tied = np.round(smooth * 2) / 2
    assert len(np.unique(tied)) < 20
    aucs, covariance = delong(np.stack([smooth, tied]), labels)
    assert aucs[0] == pytest.approx(roc_auc_score(labels, smooth), abs=1e-12)
    assert aucs[1] == pytest.approx(roc_auc_score(labels, tied), abs=1e-12)
    assert covariance.shape == (2, 2)
    assert (np.diag(covariance) > 0).all()
    (single,), _ = delong(tied, labels)
    assert single == pytest.approx(roc_auc_score(labels, tied), abs=1e-12)


def test_delong_paired_p() -> None:
    rng = np.random.default_rng(5)
    scores, labels, _ = _patient_cohort(rng, 200, shift=2.0)
    assert delong_paired_p(scores, scores, labels) == 1.0
    noise = rng.normal(size=200)
    assert delong_paired_p(scores, noise, labels) < 0.01
    assert delong_paired_p(noise, scores, labels) < 0.01
    # two noisy copies of the same signal are not told apart
    other = scores + 0.05 * rng.normal(size=200)
    assert delong_paired_p(scores, other, labels) > 0.05
    # replicates: the mean of per-replicate differences; a repeated replicate changes nothing
    twice = delong_paired_p(np.stack([scores, scores]), np.stack([noise, noise]), labels)
    assert twice == pytest.approx(delong_paired_p(scores, noise, labels))


# --- thresholds ------------------------------------------------------------------------------


def test_youden_threshold_separates_separable_scores() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    labels = np.array([0, 0, 0, 1, 1, 1])
    threshold = youden_threshold(scores, labels)
    assert 0.3 < threshold < 0.6
    assert np.array_equal((scores > threshold).astype(int), labels)


def test_youden_threshold_single_class_falls_back_to_one_half() -> None:
    assert youden_threshold(np.array([0.2, 0.8, 0.9]), np.array([1, 1, 1])) == 0.5
    assert youden_threshold(np.array([0.2, 0.8]), np.array([0, 0])) == 0.5
    assert threshold_for(np.array([0.2, 0.8]), np.array([0, 0]), "specificity", 0.8) == 0.5


def _rates(scores: np.ndarray, labels: np.ndarray, cut: float) -> tuple[float, float]:
    predicted = scores > cut
    sensitivity = (predicted & (labels == 1)).sum() / (labels == 1).sum()
    specificity = (~predicted & (labels == 0)).sum() / (labels == 0).sum()
    return float(sensitivity), float(specificity)


@pytest.mark.parametrize(("target", "value"), [("specificity", 0.8), ("sensitivity", 0.8)])
def test_threshold_for_reaches_the_target_and_is_best_at_the_other_rate(
    target: str, value: float
) -> None:
    rng = np.random.default_rng(2)
    labels = (np.arange(90) % 3 == 0).astype(int)
    scores = np.round(_sigmoid(rng.normal(size=90) + 1.2 * labels), 2)  # with ties
    cut = threshold_for(scores, labels, target, value)
    sensitivity, specificity = _rates(scores, labels, cut)
    reached, other = (
        (specificity, sensitivity)
        if target == "specificity"
        else (
            sensitivity,
            specificity,
        )
    )
    assert reached >= value
    # no cut (every score, every midpoint, both ends) reaches the target with a better other rate
    unique = np.unique(scores)
    candidates = np.concatenate([unique, (unique[1:] + unique[:-1]) / 2, [0.0, 1.0]])
    for candidate in candidates:
        sens, spec = _rates(scores, labels, float(candidate))
        cand_reached, cand_other = (spec, sens) if target == "specificity" else (sens, spec)
        if cand_reached >= value:
            assert cand_other <= other + 1e-12, f"cut {candidate} beats {cut}"
    # the cut sits strictly between scores, so p > t and p >= t agree
    assert not np.isclose(scores, cut).any()


def test_threshold_for_keeps_a_zero_score_positive_when_all_positives_are_needed() -> None:
    # reaching sensitivity 0.9 needs every positive, one of which scores exactly 0.0: the cut
    # below all scores must stay below it
    scores = np.array([0.0, 0.0, 0.2, 0.7, 0.8])
    labels = np.array([1, 0, 0, 1, 1])
    cut = threshold_for(scores, labels, "sensitivity", 0.9)
    assert _rates(scores, labels, cut)[0] >= 0.9


# --- patients --------------------------------------------------------------------------------


def test_by_patient_mean_and_max() -> None:
    images = Scores.of_images(
        ["b", "a", "b", "c", "a", "b"],
        [1, 0, 1, 0, 0, 1],
        [0.2, 0.1, 0.8, 0.5, 0.3, 0.5],
    )
    mean = by_patient(images, "mean")
    assert list(mean.patients) == ["a", "b", "c"]
    assert mean.scores == pytest.approx([0.2, 0.5, 0.5])
    assert list(mean.labels) == [0, 1, 0]
    assert list(mean.n_images) == [2, 3, 1]
    largest = by_patient(images, "max")
    assert list(largest.patients) == ["a", "b", "c"]
    assert largest.scores == pytest.approx([0.3, 0.8, 0.5])
    assert list(largest.n_images) == [2, 3, 1]
    assert len(largest) == 3


def test_by_patient_rejects_an_unknown_aggregate() -> None:
    images = Scores.of_images(["a"], [0], [0.5])
    with pytest.raises(ConfigError, match=r"eval\.aggregate"):
        by_patient(images, "median")


def test_patients_file_round_trip(tmp_path: Path) -> None:
    patients = Scores(
        np.array(["p1", "p2", "p3"]),
        np.array([0, 1, 1]),
        np.array([0.25, 0.75, 0.125]),
        np.array([2, 4, 1]),
    )
    path = tmp_path / "test_patients.csv"
    write_patients(path, patients, 0.5, ("normal", "icas"))
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == PATIENT_COLUMNS
    assert rows[1:] == [
        ["p1", "normal", "0", "2", "0.250000", "normal"],
        ["p2", "icas", "1", "4", "0.750000", "icas"],
        ["p3", "icas", "1", "1", "0.125000", "normal"],
    ]
    read, predicted = read_patients(path)
    assert list(read.patients) == ["p1", "p2", "p3"]
    assert list(read.labels) == [0, 1, 1]
    assert list(read.n_images) == [2, 4, 1]
    assert read.scores == pytest.approx(patients.scores)
    assert list(predicted) == [False, True, False]


def test_read_patients_rejects_a_file_without_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "test_patients.csv"
    path.write_text("patient,score\np1,0.5\n")
    with pytest.raises(ValueError, match="lacks the columns"):
        read_patients(path)


def test_read_patients_keeps_positive_decisions_of_a_file_without_positive_patients(
    tmp_path: Path,
) -> None:
    # no row's label names the positive class; its decisions must survive all the same
    patients = Scores(
        np.array(["a", "b"]), np.array([0, 0]), np.array([0.9, 0.1]), np.ones(2, dtype=int)
    )
    path = tmp_path / "test_patients.csv"
    write_patients(path, patients, 0.5, ("normal", "icas"))
    _, predicted = read_patients(path)
    assert list(predicted) == [True, False]


# --- calibration -----------------------------------------------------------------------------


def test_fit_temperature_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=4000)
    labels = (rng.random(4000) < _sigmoid(z)).astype(int)
    overconfident = _sigmoid(3 * z)
    temperature = fit_temperature(overconfident, labels)
    assert temperature == pytest.approx(3.0, abs=0.5)
    # already calibrated probabilities keep a temperature near 1
    assert fit_temperature(_sigmoid(z), labels) == pytest.approx(1.0, abs=0.2)
    # scaling makes them better calibrated
    scaled = apply_temperature(overconfident, temperature)
    assert np.allclose(scaled, _sigmoid(3 * z / temperature), atol=1e-6)
    before = calibration_metrics(overconfident, labels, 10)
    after = calibration_metrics(scaled, labels, 10)
    assert after["brier"] < before["brier"]
    assert after["ece"] < before["ece"]


def test_apply_temperature_keeps_the_order() -> None:
    probs = np.array([0.05, 0.3, 0.5, 0.51, 0.9, 0.99])
    for temperature in (0.5, 1.0, 2.5):
        scaled = apply_temperature(probs, temperature)
        assert (np.diff(scaled) > 0).all()
        assert scaled[2] == pytest.approx(0.5)
    assert apply_temperature(probs, 1.0) == pytest.approx(probs, abs=1e-9)
    # a temperature above 1 pulls probabilities towards 1/2
    assert (np.abs(apply_temperature(probs, 2.5) - 0.5) <= np.abs(probs - 0.5) + 1e-12).all()


def test_prior_correction_removes_the_class_weight_shift_that_temperature_cannot() -> None:
    """Inverse-frequency class weights (1:2) move every logit by log 2: temperature scaling
    keeps logit 0 fixed and cannot undo that; the prior correction and Platt scaling do."""
    rng = np.random.default_rng(0)
    z = rng.normal(-1.2, 1.5, 6000)
    labels = (rng.random(6000) < _sigmoid(z)).astype(int)
    shift = float(np.log(2.0))
    weighted = _sigmoid(z + shift)
    val, test = slice(0, 3000), slice(3000, None)
    ece = {"raw": calibration_metrics(weighted[test], labels[test], 10)["ece"]}
    for method in ("prior", "platt", "temperature"):
        intercept, slope = fit_calibration(method, weighted[val], labels[val], shift)
        calibrated = apply_calibration(weighted[test], intercept, slope)
        ece[method] = calibration_metrics(calibrated, labels[test], 10)["ece"]
    assert ece["raw"] > 0.08
    assert ece["prior"] < 0.03 and ece["platt"] < 0.03
    assert ece["temperature"] > 0.05
    assert fit_calibration("prior", weighted, labels, shift) == (-shift, 1.0)
    raw = calibration_metrics(weighted, labels, 10)
    assert raw["calibration_slope"] == pytest.approx(1.0, abs=0.1)
    assert raw["calibration_intercept"] == pytest.approx(-shift, abs=0.1)


def test_calibration_metrics() -> None:
    labels = np.array([0, 1, 1, 0, 1])
    perfect = calibration_metrics(labels.astype(float), labels, 10)
    assert perfect["brier"] == pytest.approx(0.0)
    assert perfect["ece"] == pytest.approx(0.0, abs=1e-9)
    wrong = calibration_metrics(1.0 - labels, labels, 10)
    assert wrong["brier"] == pytest.approx(1.0)
    assert wrong["ece"] == pytest.approx(1.0)
    half = calibration_metrics(np.full(5, 0.5), labels, 10)
    assert half["brier"] == pytest.approx(0.25)
    assert half["ece"] == pytest.approx(abs(0.5 - 0.6))


# --- evaluate() ------------------------------------------------------------------------------

FAST = {"n_bootstrap": 200, "seed": 0}


def test_evaluate_reports_patient_level_metrics_with_intervals(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    val, test = _images(rng, 30, "v"), _images(rng, 36, "t")
    settings = EvalSettings(calibrate=True, **FAST)
    result = evaluate(val, test, 0.5, settings, tmp_path, ("normal", "icas"))
    metrics = result.metrics

    assert metrics["test/auroc_ci_low"] < metrics["test/auroc_ci_high"]
    image_auroc = roc_auc_score(test.labels, test.scores)
    assert metrics["test/auroc_ci_low"] <= image_auroc <= metrics["test/auroc_ci_high"]
    patients = by_patient(test, "mean")
    assert metrics["test/patient/n"] == 36
    assert metrics["test/patient/n_positive"] == 12
    assert metrics["test/patient/auroc"] == pytest.approx(
        roc_auc_score(patients.labels, patients.scores)
    )
    assert (
        metrics["test/patient/auroc_ci_low"]
        <= metrics["test/patient/auroc"]
        <= metrics["test/patient/auroc_ci_high"]
    )
    low, high = delong_interval(patients.scores, patients.labels)
    assert metrics["test/patient/auroc_delong_ci_low"] == pytest.approx(low)
    assert metrics["test/patient/auroc_delong_ci_high"] == pytest.approx(high)
    assert "val/patient/auroc" in metrics

    # the patient threshold and the operating points are chosen on val patients
    val_patients = by_patient(val, "mean")
    assert metrics["test/patient/threshold"] == youden_threshold(
        val_patients.scores, val_patients.labels
    )
    for target, value in (("specificity", 0.8), ("sensitivity", 0.9)):
        name = f"test/patient/at_{target}_{value:g}/"
        cut = threshold_for(val_patients.scores, val_patients.labels, target, value)
        assert metrics[f"{name}threshold"] == cut
        sensitivity, specificity = _rates(patients.scores, patients.labels, cut)
        assert metrics[f"{name}sensitivity"] == pytest.approx(sensitivity)
        assert metrics[f"{name}specificity"] == pytest.approx(specificity)
        for rate in ("sensitivity", "specificity"):
            assert metrics[f"{name}{rate}_ci_low"] <= metrics[f"{name}{rate}_ci_high"]

    # calibration per level, and the temperatures fitted on val
    assert 0 <= metrics["test/brier"] <= 1
    assert 0 <= metrics["test/patient/brier"] <= 1
    assert metrics["test/calibrated/temperature"] == pytest.approx(
        fit_temperature(val.scores, val.labels)
    )
    assert "test/patient/calibrated/temperature" in metrics
    assert "test/calibrated/brier" in metrics
    assert all(np.isfinite(value) for value in metrics.values())

    # files: one row per test patient, decisions at the val-chosen threshold
    read, predicted = read_patients(tmp_path / "test_patients.csv")
    assert list(read.patients) == list(patients.patients)
    assert list(read.n_images) == list(patients.n_images)
    assert np.array_equal(predicted, patients.scores > metrics["test/patient/threshold"])
    # reliability curves per level, raw and recalibrated, for the figure
    recalibrated = {f"{level}, {settings.calibrate}" for level in ("images", "patients")}
    assert set(result.reliability) == {"images", "patients", *recalibrated}
    scores, labels = result.reliability["patients"]
    assert np.array_equal(scores, patients.scores) and np.array_equal(labels, patients.labels)


def test_evaluate_chooses_the_patient_threshold_on_val(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    val, test = _images(rng, 24, "v"), _images(rng, 24, "t")
    settings = EvalSettings(**FAST)
    first = evaluate(val, test, 0.5, settings, tmp_path, ("normal", "icas")).metrics
    changed = Scores(test.patients, test.labels, test.scores**3, test.n_images)
    second = evaluate(val, changed, 0.5, settings, tmp_path, ("normal", "icas")).metrics
    assert second["test/patient/threshold"] == first["test/patient/threshold"]
    assert (
        second["test/patient/at_specificity_0.8/threshold"]
        == first["test/patient/at_specificity_0.8/threshold"]
    )
    assert second["test/brier"] != first["test/brier"]
    # and changing val does change it
    moved = Scores(val.patients, val.labels, val.scores**3, val.n_images)
    third = evaluate(moved, test, 0.5, settings, tmp_path, ("normal", "icas")).metrics
    assert third["test/patient/threshold"] != first["test/patient/threshold"]
    assert "test/calibrated/temperature" not in first


def test_evaluate_without_aggregation_reports_images_only(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    val, test = _images(rng, 24, "v"), _images(rng, 24, "t")
    settings = EvalSettings(aggregate="none", **FAST)
    result = evaluate(val, test, 0.5, settings, tmp_path, ("normal", "icas"))
    metrics = result.metrics
    assert not [key for key in metrics if "patient" in key]
    assert not (tmp_path / "test_patients.csv").exists()
    assert list(result.reliability) == ["images", "images, prior"]
    assert "test/auroc_ci_low" in metrics
    assert "test/brier" in metrics
    # the operating points are then image-level, chosen on val images
    cut = threshold_for(val.scores, val.labels, "specificity", 0.8)
    assert metrics["test/at_specificity_0.8/threshold"] == cut
    sensitivity, _ = _rates(test.scores, test.labels, cut)
    assert metrics["test/at_specificity_0.8/sensitivity"] == pytest.approx(sensitivity)


@pytest.mark.parametrize(
    "bad",
    [
        {"ci_level": 1.5},
        {"ci_level": 0.0},
        {"operating_points": {"accuracy": 0.8}},
        {"operating_points": {"specificity": 1.2}},
        {"n_bootstrap": 10},
        {"aggregate": "median"},
    ],
)
def test_eval_settings_reject_bad_settings(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="eval\\."):
        EvalSettings(**bad)  # type: ignore[arg-type]


def test_eval_settings_defaults_are_valid() -> None:
    settings = EvalSettings()
    assert settings.bootstrap == BootstrapSettings(2000, 0.95, 0)


def test_weighted_average_precision_matches_scikit_learn_with_ties_and_weights() -> None:
    rng = np.random.default_rng(5)
    scores = np.round(rng.random(60), 1)  # many ties
    labels = (rng.random(60) < 0.35).astype(int)
    weights = rng.integers(0, 4, size=(20, 60)).astype(float)
    weights[:, np.nonzero(labels)[0][0]] += 1  # every row keeps a positive
    expected = [average_precision_score(labels, scores, sample_weight=w) for w in weights]
    assert weighted_average_precision(scores, labels, weights) == pytest.approx(expected)


def test_a_small_test_split_is_said_to_give_approximate_intervals(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rng = np.random.default_rng(8)
    settings = EvalSettings(**FAST)
    with caplog.at_level("WARNING"):
        evaluate(_images(rng, 36, "v"), _images(rng, 36, "t"), 0.5, settings, tmp_path, ("a", "b"))
    assert "approximate" not in caplog.text, "12 positive and 24 negative patients suffice"
    with caplog.at_level("WARNING"):
        evaluate(_images(rng, 30, "v"), _images(rng, 15, "t"), 0.5, settings, tmp_path, ("a", "b"))
    assert "5 positive and 10 negative patients" in caplog.text and "approximate" in caplog.text
