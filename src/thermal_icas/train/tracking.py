"""MLflow beside TensorBoard: the runs of one outputs root collect in one local store.

MLflow 3 refuses its plain-folder (`file:`) store unless `MLFLOW_ALLOW_FILE_STORE=true` (it is
in maintenance mode), so the store is MLflow's local SQLite database in the folder: no server,
one file, read with `MlflowClient(tracking_uri(store))` or, with the full `mlflow` package,
`mlflow ui --backend-store-uri <tracking_uri>`. Parallel sweep jobs share it: SQLite
serialises their writes (on one machine's disk, not on a network share)."""

from __future__ import annotations

import logging
from pathlib import Path

from filelock import FileLock
from lightning.pytorch.loggers import MLFlowLogger

from thermal_icas.core import run_files

log = logging.getLogger(__name__)

DATABASE = "mlflow.db"
ARTIFACTS = "artifacts"
# held while a job creates the database's tables, the experiment and its run
LOCK = "mlflow.db.lock"


def tracking_uri(store: str | Path) -> str:
    """The MLflow tracking URI of the store folder."""
    return f"sqlite:///{Path(store).expanduser().resolve() / DATABASE}"


def mlflow_logger(store: str | Path, experiment_name: str, run_dir: str | Path) -> MLFlowLogger:
    """A logger into `store` (created if need be), the run named by its folder below the
    store's parent (the outputs root: `train/runs/<time>`) and tagged with its full path; a
    resumed run continues its MLflow run, whose id its folder keeps."""
    folder = Path(store).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    run = Path(run_dir).resolve()
    name = run.relative_to(folder.parent) if run.is_relative_to(folder.parent) else run.name
    marker = run / run_files.MLFLOW_RUN
    previous = marker.read_text().strip() if marker.is_file() else None
    uri = tracking_uri(folder)
    # jobs that start together race to create the tables and the experiment (of three started
    # at once, two failed): the run is created here, under the lock, not at its first log
    with FileLock(folder / LOCK):
        logger = MLFlowLogger(
            experiment_name=experiment_name,
            run_name=str(name),
            tracking_uri=uri,
            artifact_location=str(folder / ARTIFACTS),
            tags={"run_dir": str(run)},
            run_id=previous,
        )
        run_id = logger.run_id
    if run_id is not None and previous is None:  # None on the other DDP ranks
        marker.write_text(f"{run_id}\n")
    log.info("MLflow run %s (%s) in %s", run_id, name, uri)
    return logger
