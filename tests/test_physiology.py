"""The physiology baseline: regional temperatures find a planted cooling where it was put, the
clinical rule detects a large one and not a null, the regions arm learns the embedded signal and
nothing at signal 0, and the levers refuse combinations that mean nothing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.conftest import ComposeFn, run_metrics
from thermal_icas.analysis.trained_run import load_run
from thermal_icas.core import run_files
from thermal_icas.core.errors import ConfigError, PretrainedWeightsError
from thermal_icas.core.physiology.regions import feature_names, image_regions, patient_means
from thermal_icas.train.clinical import Clinical
from thermal_icas.train.config import check_settings
from thermal_icas.train.pipeline import run
from thermal_icas.train.tabular import CapistrantRule, Regions, Tables

NAMES = feature_names()


def planted_face(
    cooling: float,
    side: int,
    rng: np.random.Generator,
    shape: tuple[int, int] = (96, 80),
    scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A deg C face in a 22 deg C room, tilted a little, with `cooling` deg C taken off the
    forehead and supraorbital skin of one side (`side` -1 image-left, +1 image-right)."""
    h, w = shape
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    cx, cy, a, b = w / 2, h / 2 + 2, 0.34 * w * scale, 0.42 * h * scale
    u, v = (xx - cx) / a, (yy - cy) / b
    face = u**2 + v**2 < 1
    depth = (v + 1) / 2  # 0 at the top of the face, 1 at the chin
    celsius = np.full(shape, 22.0, np.float32)
    celsius[face] = 33.5 + 0.6 * np.cos(2.5 * u[face]) - 1.5 * (depth[face] > 0.6)
    celsius[face] += rng.normal(0, 0.1, int(face.sum()))
    planted = face & (side * u > 0.02) & (depth > 0.15) & (depth < 0.42)
    celsius[planted] -= cooling
    turn = cv2.getRotationMatrix2D((cx, cy), float(rng.uniform(-6, 6)), 1.0)
    celsius = cv2.warpAffine(celsius, turn, (w, h), borderValue=22.0)
    mask = cv2.warpAffine(face.astype(np.float32), turn, (w, h)) > 0.5
    return celsius, mask


def test_a_planted_one_degree_cooling_reads_as_one_degree_on_its_side() -> None:
    rng = np.random.default_rng(0)
    celsius, face = planted_face(1.0, side=+1, rng=rng)
    found = dict(zip(NAMES, image_regions(celsius, face), strict=True))
    assert found["supraorbital_difference"] == pytest.approx(1.0, abs=0.1)
    assert found["supraorbital_abs_difference"] == pytest.approx(1.0, abs=0.1)
    assert found["cheek_difference"] == pytest.approx(0.0, abs=0.1)
    assert 32.0 < found["supraorbital_left"] < 35.0
    celsius, face = planted_face(1.0, side=-1, rng=rng)
    found = dict(zip(NAMES, image_regions(celsius, face), strict=True))
    assert found["supraorbital_difference"] == pytest.approx(-1.0, abs=0.1)


def test_patient_means_skip_what_an_image_does_not_show() -> None:
    rows = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, np.nan]])
    patients, means = patient_means(["b", "a", "b"], rows)
    assert patients == ["b", "a"]
    assert means[0, 0] == 3.0 and np.isnan(means[0, 1])
    assert means[1].tolist() == [3.0, 4.0]


def test_levers_refuse_combinations_that_mean_nothing(compose_cfg: ComposeFn) -> None:
    with pytest.raises(ConfigError, match="rule=capistrant is an arm of its own"):
        Tables(regions=Regions(), rule=CapistrantRule())
    with pytest.raises(ConfigError, match="both to the network's head"):
        Tables(clinical=Clinical(use="fused"), regions=Regions(use="only"))
    with pytest.raises(ConfigError, match="fitted by one model"):
        Tables(clinical=Clinical(use="only"), regions=Regions(model="boosting"))
    with pytest.raises(ConfigError, match=r"rule.region='chin'"):
        CapistrantRule(region="chin")
    with pytest.raises(ConfigError, match=r"features.use='both'"):
        Regions(use="both")
    cfg = compose_cfg(["+features.model=boosting"])
    with pytest.raises(ConfigError, match="set while features is off: add features=regions"):
        check_settings(cfg)
    assert Tables(clinical=Clinical(use="only"), regions=Regions()).use == "only"
    assert Tables(rule=CapistrantRule()).use == "rule" and Tables().use is None


def _planted_cohort(root: Path, cooling: float, patients: int = 120) -> Path:
    """A third ICAS with `cooling` deg C off one side, the rest controls; two images each, a
    natural left-right asymmetry of 0.15 deg C (sd) in everyone."""
    rng = np.random.default_rng(1)
    for p in range(patients):
        positive = p % 3 == 0
        name = "icas" if positive else "non_icas"
        side = int(rng.choice([-1, 1]))
        natural, scale = float(rng.normal(0, 0.15)), float(rng.uniform(0.85, 1.1))
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(2):
            celsius, face = planted_face(cooling if positive else 0.0, side, rng, scale=scale)
            left = np.zeros_like(face)
            left[:, : face.shape[1] // 2] = True
            celsius[face & left] += natural / 2
            celsius[face & ~left] -= natural / 2
            np.save(root / name / f"P{p:03d}_{k}.npy", celsius)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("cooling", [2.0, 0.0])
def test_the_rule_finds_a_planted_two_degrees_and_nothing_at_zero(
    compose_cfg: ComposeFn, tmp_path: Path, cooling: float
) -> None:
    data_dir = _planted_cohort(tmp_path / "cohort", cooling)
    out = tmp_path / "rule"
    overrides = ["rule=capistrant", f"data.data_dir={data_dir}", "data.format=celsius"]
    run(compose_cfg([*overrides, "data.image_size=32", "threads=1"], output_dir=out))
    metrics = run_metrics(out)
    assert metrics["rule/threshold"] == 0.7 and metrics["rule/celsius"] == 1.0
    low, high = metrics["test/patient/auroc_ci_low"], metrics["test/patient/auroc_ci_high"]
    if cooling:
        assert metrics["test/patient/sensitivity"] == 1.0 and low > 0.5
    else:
        assert metrics["test/patient/sensitivity"] == 0.0 and low < 0.5 < high
    assert (out / "regions.csv").is_file() and (out / "test_patients.csv").is_file()
    assert not (out / "checkpoints").exists(), "the rule trains nothing"


@pytest.mark.slow
@pytest.mark.parametrize("signal", [1.5, 0.0])
def test_the_regions_arm_learns_the_embedded_signal_and_nothing_at_zero(
    compose_cfg: ComposeFn, tmp_path: Path, signal: float
) -> None:
    out = tmp_path / f"signal{signal}"
    small = ["data.synthetic.num_patients=120", "data.synthetic.height=96"]
    small += ["data.synthetic.width=80", "data.image_size=32"]
    overrides = ["features=regions", f"data.synthetic.signal={signal}", *small, "threads=1"]
    run(compose_cfg(overrides, output_dir=out))
    metrics = run_metrics(out)
    low, high = metrics["test/patient/auroc_ci_low"], metrics["test/patient/auroc_ci_high"]
    assert metrics["regions/features"] == len(NAMES)
    if signal:
        assert low > 0.5
    else:
        assert low < 0.5 < high


def test_predict_refuses_a_regional_or_rule_run(tmp_path: Path) -> None:
    for name, node in (("regions", {"features": {"use": "fused"}}), ("rule", {"rule": {}})):
        config = tmp_path / name / run_files.CONFIG
        config.parent.mkdir(parents=True)
        OmegaConf.save(OmegaConf.create(node), config)
        with pytest.raises(PretrainedWeightsError, match="need each patient's regional table"):
            load_run(tmp_path / name)
