"""logger=mlflow: a run lands in the outputs root's MLflow store beside its TensorBoard logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import ComposeFn, make_toy_dataset
from thermal_icas import run_files
from thermal_icas.pipeline import run
from thermal_icas.reporting.tracking import tracking_uri


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
    assert found.data.metrics["test/patient/auroc"] == pytest.approx(metrics["test/patient/auroc"])
    # what Lightning logs per epoch arrives as in TensorBoard
    epochs = client.get_metric_history(found.info.run_id, "val/auroc")
    assert len(epochs) == cfg.training.finetune.epochs
    assert found.data.params["data/image_size"] == "32"
    assert found.data.params["model/backbone"] == "resnet18"
