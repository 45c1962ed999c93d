"""Stage 1's probes: they measure separable features, not the class prior, on schedule."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import ComposeFn
from thermal_icas.train.lit.probe import PROBE_METRICS, Features, probe_epochs, probe_metrics
from thermal_icas.train.lit.stages import backbone_lr_scale
from thermal_icas.train.pipeline import run

SMOKE = ["experiment=smoke", "model.pretrained=none"]


def _features(
    n_patients: int, signal: float, seed: int, shuffle: bool = False, prefix: str = ""
) -> Features:
    """Two images per patient, one in three patients positive (the cohort's 1:2 prior); the
    positives' features are shifted by `signal` along every dimension."""
    rng = np.random.default_rng(seed)
    patient_targets = (np.arange(n_patients) % 3 == 0).astype(int)
    patients = np.repeat([f"{prefix}{p}" for p in range(n_patients)], 2)
    targets = np.repeat(patient_targets, 2)
    values = rng.normal(size=(len(targets), 32)) + signal * targets[:, None]
    if shuffle:
        targets = np.repeat(rng.permutation(patient_targets), 2)
    return Features(torch.as_tensor(values), targets, patients)


def test_separable_features_score_near_one() -> None:
    train = _features(170, signal=1.0, seed=0)
    val = _features(40, signal=1.0, seed=1, prefix="v")
    results = probe_metrics(train, val, k=10)
    assert set(results) == set(PROBE_METRICS)
    for key, value in results.items():
        assert value > 0.95, key


def test_features_unrelated_to_the_labels_score_near_chance() -> None:
    train = _features(300, signal=1.0, seed=0, shuffle=True)
    val = _features(300, signal=1.0, seed=1, shuffle=True, prefix="v")
    for key, value in probe_metrics(train, val, k=10).items():
        assert abs(value - 0.5) < 0.1, (key, value)


def test_the_knn_vote_is_balanced_so_the_prior_does_not_decide() -> None:
    """Every feature alike: each neighbour set mirrors the 1:2 prior, which a plain vote would
    score 1/3 for everyone; the balanced vote scores it 1/2."""
    from thermal_icas.train.lit.probe import knn_scores

    train = _features(30, signal=0.0, seed=0)
    same = Features(torch.ones_like(train.values), train.targets, train.patients)
    scores = knn_scores(same, same, k=len(train.targets))
    assert scores == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("every", "epochs", "expected"),
    [(2, 5, {1, 3, 4}), (5, 30, {4, 9, 14, 19, 24, 29}), (None, 3, {2}), (0, 3, {2})],
)
def test_probe_epochs(every: int | None, epochs: int, expected: set[int]) -> None:
    assert probe_epochs(every, epochs) == expected


@pytest.mark.slow
def test_stage_1_reports_both_probes_at_the_configured_epochs(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    cfg = compose_cfg(
        [
            *SMOKE,
            "logger=csv",
            "training.contrastive.epochs=4",
            "training.contrastive.probe_every=3",
            "training.finetune.epochs=1",
            "explain.focus_metrics=false",
        ]
    )
    metrics = run(cfg)
    out = Path(cfg.paths.output_dir)
    saved = json.loads((out / "metrics.json").read_text())
    for key in PROBE_METRICS:
        assert 0.0 <= saved[key] <= 1.0, key
    assert saved["run/backbone_lr_scale"] == 0.1
    assert saved == pytest.approx(metrics)
    with (out / "csv" / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    probed = [row for row in rows if row.get("contrastive/probe_auroc")]
    # stage 1 logs first; its epochs 2 and 3 (0-based) are the 3rd and the last
    assert [int(row["epoch"]) for row in probed] == [2, 3]
    assert all(row["contrastive/knn_auroc"] for row in probed)
    assert float(probed[-1]["contrastive/probe_auroc"]) == pytest.approx(
        saved["contrastive/probe_auroc"]
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ([], 0.1),
        (["training.skip_contrastive=true"], 1.0),
        (["training.skip_contrastive=true", "training.encoder_ckpt=/some/run"], 0.1),
        (["training.skip_contrastive=true", "model.pretrained=imagenet"], 0.1),
        (["training.skip_contrastive=true", "training.finetune.backbone_lr_scale=0.3"], 0.3),
        (["training.finetune.backbone_lr_scale=1"], 1.0),
        (["experiment=no_pretraining"], 1.0),
    ],
)
def test_auto_backbone_lr_scale(
    compose_cfg: ComposeFn, overrides: list[str], expected: float
) -> None:
    assert backbone_lr_scale(compose_cfg(overrides)) == expected


def test_no_pretraining_trains_as_many_epochs_as_both_default_stages(
    compose_cfg: ComposeFn,
) -> None:
    default = compose_cfg([]).training
    baseline = compose_cfg(["experiment=no_pretraining"]).training
    assert baseline.skip_contrastive
    assert baseline.finetune.epochs == default.contrastive.epochs + default.finetune.epochs
    assert baseline.finetune.scheduler.T_max == baseline.finetune.epochs
