"""The statistics against simulated sweeps with a known answer (slow: hundreds of sweeps)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.conftest import load_script
from thermal_icas.core.evaluation.bootstrap import BootstrapSettings
from thermal_icas.core.evaluation.compare import sharing
from thermal_icas.core.evaluation.simulate import Design, coverage, null_check, simulate_sweep

FAST = BootstrapSettings(1000, 0.95, 0)


def test_simulated_arms_have_the_auroc_they_were_given() -> None:
    design = Design(positives=400, negatives=800, seeds=2, arms=2, auroc=0.8, difference=0.1)
    baseline, arms = simulate_sweep(design, np.random.default_rng(0))
    assert len(baseline) == 2 and len(arms) == 2
    assert roc_auc_score(baseline[0].labels, baseline[0].scores) == pytest.approx(0.8, abs=0.02)
    assert roc_auc_score(arms[0][1].labels, arms[0][1].scores) == pytest.approx(0.9, abs=0.02)
    assert np.array_equal(baseline[0].patients, baseline[1].patients)
    own = simulate_sweep(Design(seeds=2, same_patients=False), np.random.default_rng(0))[0]
    assert not np.array_equal(own[0].patients, own[1].patients)


@pytest.mark.slow
@pytest.mark.parametrize(("seeds", "folds"), [(5, 1), (1, 5)])
def test_paired_verdict_rarely_calls_a_difference_between_equal_arms(
    seeds: int, folds: int
) -> None:
    """Two equal arms, 5 seeds on the same 60 patients (seeds sharing them) or 1 seed x 5
    folds: before seeds shared one patient draw, the first design excluded 0 in 24.5%."""
    result = null_check(Design(seeds=seeds, folds=folds), 200, FAST)
    assert result.first_arm_rejects <= 0.10
    assert result.covered >= 0.90


@pytest.mark.slow
def test_paired_verdict_finds_a_real_difference_and_holm_holds_the_family() -> None:
    power = null_check(Design(difference=0.1), 100, FAST)
    assert power.first_arm_rejects > 0.5
    family = null_check(Design(arms=3, seeds=1), 200, FAST)
    assert family.any_rejects_holm <= 0.10 < family.any_rejects


@pytest.mark.slow
def test_auroc_intervals_cover_at_12_vs_24_patients() -> None:
    """The issue's target: 92-97% at 12 vs 24 patients and AUROC 0.9, over 1,000 splits."""
    hits = coverage(12, 24, 0.9, 1000, FAST)
    assert 0.92 <= hits["bca"] <= 0.97
    assert 0.92 <= hits["delong_logit"] <= 0.97


def test_the_scripts_print_their_figures(capsys: pytest.CaptureFixture[str]) -> None:
    load_script("null_check").main(["--sweeps", "3", "--resamples", "200", "--seeds", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("=")[0] for line in lines[-5:]] == [
        "sweeps",
        "rejects",
        "familywise",
        "familywise_holm",
        "covered",
    ]
    load_script("coverage").main(["--sizes", "5v10", "--aurocs", "0.8", "--sims", "3"])
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith("5 10 0.8 bca=") and "delong_logit=" in line
    with pytest.raises(SystemExit):
        load_script("coverage").main(["--sizes", "12x24"])


def test_sharing_says_which_replicates_scored_which_patients() -> None:
    same, _ = simulate_sweep(Design(seeds=3), np.random.default_rng(1))
    own, _ = simulate_sweep(Design(seeds=3, same_patients=False), np.random.default_rng(1))
    assert sharing(same) == "all 3 replicates scored the same 60 patients"
    distinct = len(np.unique(np.concatenate([s.patients for s in own])))
    assert 60 < distinct <= 180
    assert (
        sharing(own) == f"3 replicates scored different sets of {distinct} distinct patients in all"
    )
    assert sharing(same[:1]) == "one replicate, 60 patients"
    small, _ = simulate_sweep(Design(positives=5, negatives=10, seeds=2), np.random.default_rng(1))
    assert sharing(small) == (
        "all 2 replicates scored the same 15 patients (5 positive: fewer than 12 in a class, "
        "the intervals are approximate)"
    )
