"""Sweeps: k-fold splits, a real multirun with a failing job, launchers, the Optuna search,
HParams, Python API."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from tests.conftest import CONF_DIR, ComposeFn
from tests.test_data import _records
from thermal_icas import ContrastiveThermalClassifier
from thermal_icas.analysis.summary import summarize_multirun
from thermal_icas.core.data.splits import fold_patients
from thermal_icas.core.errors import ConfigError, DatasetError
from thermal_icas.train.pipeline import OBJECTIVE, run, sweep_objective

ROOT = Path(__file__).resolve().parents[1]
FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


@pytest.mark.parametrize(("num_folds", "seed"), [(5, 0), (3, 7), (4, 11)])
def test_folds_put_every_patient_in_test_exactly_once(num_folds: int, seed: int) -> None:
    records = _records(11, 23)
    patients = {r.patient for r in records}
    tested: list[str] = []
    for fold in range(num_folds):
        assignment = fold_patients(records, FRACTIONS, seed, num_folds, fold)
        assert set(assignment) == patients
        test = [p for p, split in assignment.items() if split == "test"]
        for split in ("train", "val", "test"):
            labels = {r.label for r in records if assignment[r.patient] == split}
            assert labels == {0, 1}, (fold, split)
        tested += test
    assert sorted(tested) == sorted(patients)


def test_fold_settings_are_checked() -> None:
    with pytest.raises(DatasetError, match=r"data\.fold=5"):
        fold_patients(_records(6, 12), FRACTIONS, 0, 5, 5)
    with pytest.raises(DatasetError, match=r"fewer than data\.num_folds"):
        fold_patients(_records(3, 12), FRACTIONS, 0, 5, 0)


@pytest.mark.slow
def test_multirun_with_a_failing_job_is_summarized(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "experiment=smoke",
        "hydra/launcher=local",
        "threads=1",
        "mask=none,content_based",
        "data.num_folds=3",
        # fold 7 does not exist: that job fails, the others must not
        "data.fold=0,1,2,7",
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.sweep.dir={sweep}",
        "callbacks.common.progress_bar=null",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 8
    failed = [job for job in jobs if (job / "error.txt").exists()]
    assert len(failed) == 2
    assert all("data.fold=7" in (job / "error.txt").read_text() for job in failed)

    summary = summarize_multirun(sweep, baseline="mask=none", n_bootstrap=200)
    rows = {row.arm: row for row in summary.rows}
    assert set(rows) == {"mask=none", "mask=content_based"}
    assert all(row.n_runs == 3 and row.n_failed == 1 for row in rows.values())
    for row in rows.values():
        # the three folds' out-of-fold predictions pool into every patient exactly once
        assert row.patient is not None and row.patient["auroc"].n_patients == 30
    (paired,) = summary.patient_comparisons
    assert paired.result is not None and paired.result.estimates["auroc"].n_patients == 30
    assert len(summary.failed) == 2
    with (sweep / "summary.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 2
    assert (sweep / "summary.png").stat().st_size > 0
    assert "data.fold=7" in (sweep / "summary.md").read_text()


@pytest.mark.parametrize("launcher", ["local", "slurm"])
def test_launcher_configs_compose(launcher: str) -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            "train",
            overrides=["experiment=ablation", f"hydra/launcher={launcher}"],
            return_hydra_config=True,
        )
    GlobalHydra.instance().clear()
    expected = "JoblibLauncher" if launcher == "local" else "SlurmLauncher"
    assert cfg.hydra.launcher._target_.endswith(expected)
    params = cfg.hydra.sweeper.params
    assert params.mask == "none,content_based" and params.attention == "off,on"
    assert len(params.seed.split(",")) >= 3


@pytest.mark.slow
def test_hparams_carry_the_test_metrics(compose_cfg: ComposeFn) -> None:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
    from tensorboard.plugins.hparams import plugin_data_pb2

    cfg = compose_cfg(["experiment=smoke", "debug=fast"])
    run(cfg)
    tags, levers = [], {}
    for event_file in (Path(cfg.paths.output_dir) / "tensorboard").glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(event_file)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != "hparams":
                    continue
                content = value.metadata.plugin_data.content
                data = plugin_data_pb2.HParamsPluginData.FromString(content)
                tags += [info.name.tag for info in data.experiment.metric_infos]
                levers.update(data.session_start_info.hparams)
    assert {"test/auroc", "test/balanced_acc", "test/attention/in_face"} <= set(tags)
    assert "hp_metric" not in tags
    assert {"mask", "attention", "asymmetry", "seed"} <= set(levers)


@pytest.mark.slow
def test_python_api_runs_the_configured_pipeline(tmp_path: Path, cache_dir: Path) -> None:
    out = tmp_path / "api"
    clf = ContrastiveThermalClassifier(
        output_dir=out,
        use_face_mask=True,
        mask_type="ellipse",
        use_attention=True,
        overrides=["experiment=smoke", "debug=fast", f"paths.cache_dir={cache_dir}"],
    )
    cfg = clf.config()
    assert cfg.mask.method._target_.endswith("EllipseMask")
    assert cfg.attention is not None and cfg.asymmetry is None
    model, results = clf.run_full_training(skip_contrastive=True)
    assert model.encoder.attention is not None
    assert 0.0 <= results["test/auroc"] <= 1.0
    assert (out / "metrics.json").is_file() and (out / ".hydra" / "config.yaml").is_file()
    assert not (out / "checkpoints" / "encoder.pt").exists(), "stage 1 was skipped"
    with pytest.raises(ConfigError, match="finished run"):
        clf.run_full_training()


def test_cross_validation_preset_sweeps_five_folds_with_one_thread_per_job() -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=cv"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert cfg.data.num_folds == 5
    assert cfg.hydra.sweeper.params["data.fold"] == "0,1,2,3,4"
    assert cfg.threads == 1
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")


def test_search_maximises_val_auroc_over_real_keys_with_the_runs_seed() -> None:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["hydra/sweeper=tune", "seed=7"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper")
    assert (sweeper.direction, sweeper.n_jobs, sweeper.sampler.seed) == ("maximize", 1, 7)
    assert set(sweeper.params) == {
        "training.finetune.optimizer.lr",
        "training.contrastive.optimizer.lr",
        "training.contrastive.epochs",
        "training.finetune.epochs",
        "loss.temperature",
    }
    for key in sweeper.params:
        assert OmegaConf.select(cfg, key) is not None, f"{key} is no key of the run's config"
    assert OBJECTIVE.startswith("val/")
    assert sweep_objective({OBJECTIVE: 0.75, "test/patient/auroc": 0.9}) == 0.75
    # Optuna's sweeper records a value float() rejects as a failed trial; NaN would stop it
    assert sweep_objective({OBJECTIVE: float("nan")}) is None
    assert sweep_objective({}) is None


@pytest.mark.slow
def test_optuna_search_picks_the_trial_with_the_best_val_auroc(
    tmp_path: Path, cache_dir: Path
) -> None:
    sweep = tmp_path / "search"
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "hydra/sweeper=tune",
        "hydra.sweeper.n_trials=2",
        "experiment=smoke",
        # fixed on the command line, so they leave the search: smoke-sized trials
        "training.contrastive.epochs=2",
        "training.finetune.epochs=2",
        "threads=1",
        f"paths.cache_dir={cache_dir}",
        f"hydra.sweep.dir={sweep}",
        "callbacks.common.progress_bar=null",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir())
    assert len(jobs) == 2
    values = [json.loads((job / "metrics.json").read_text())[OBJECTIVE] for job in jobs]
    searched = [yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) for job in jobs]
    assert all(any(o.startswith("loss.temperature=") for o in job) for job in searched)
    assert searched[0] != searched[1]
    best = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert best["best_value"] == pytest.approx(max(values))
    winner = searched[values.index(max(values))]
    assert f"loss.temperature={best['best_params']['loss.temperature']}" in winner
    with pytest.raises(ValueError, match="Optuna search"):
        summarize_multirun(sweep)
