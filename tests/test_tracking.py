"""logger=mlflow: a run lands in the outputs root's MLflow store beside its TensorBoard logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import ComposeFn, make_toy_dataset
from thermal_icas.core import run_files
from thermal_icas.train.pipeline import run
from thermal_icas.train.tracking import mlflow_logger, tracking_uri


@pytest.mark.slow
def test_a_run_is_in_the_store_with_its_metrics_and_config(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    outputs = tmp_path / "outputs"
    run_dir = outputs / "train" / "runs" / "first"
    data_dir = make_toy_dataset(tmp_path / "toy", size=32)
    overrides = ["experiment=smoke", f"data.data_dir={data_dir}", "logger=mlflow"]
    overrides.append(f"paths.log_dir={outputs}")
    cfg = compose_cfg(overrides, output_dir=run_dir)
    run(cfg)
    metrics = json.loads((run_dir / run_files.METRICS).read_text())
    assert any((run_dir / "tensorboard").glob("events.out.tfevents.*"))

    client = MlflowClient(tracking_uri(outputs / "mlruns"))
    experiment = client.get_experiment_by_name(cfg.task_name)
    assert experiment is not None
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.info.status == "FINISHED"
    assert found.info.run_name == "train/runs/first"
    assert found.data.tags["run_dir"] == str(run_dir.resolve())
    assert (run_dir / run_files.MLFLOW_RUN).read_text().strip() == found.info.run_id
    assert found.data.metrics["test/patient/auroc"] == pytest.approx(metrics["test/patient/auroc"])
    # what Lightning logs per epoch arrives as in TensorBoard
    epochs = client.get_metric_history(found.info.run_id, "val/auroc")
    assert len(epochs) == cfg.training.finetune.epochs
    assert found.data.params["data/image_size"] == "32"
    assert found.data.params["model/backbone"] == "resnet18"


def test_a_resumed_run_continues_its_mlflow_run(tmp_path: Path) -> None:
    store, run_dir = tmp_path / "outputs" / "mlruns", tmp_path / "outputs" / "train" / "runs" / "a"
    run_dir.mkdir(parents=True)
    first = mlflow_logger(store, "train", run_dir)
    first.log_metrics({"val/auroc": 0.6}, step=0)
    assert (run_dir / run_files.MLFLOW_RUN).read_text().strip() == first.run_id
    resumed = mlflow_logger(store, "train", run_dir)
    resumed.log_metrics({"val/auroc": 0.7}, step=1)
    assert resumed.run_id == first.run_id
    (another := run_dir.with_name("b")).mkdir()
    other = mlflow_logger(store, "train", another)
    assert other.run_id != first.run_id

    client = MlflowClient(tracking_uri(store))
    history = client.get_metric_history(first.run_id, "val/auroc")
    assert [point.value for point in history] == [0.6, 0.7]
