"""Every file and folder of a run folder, named once: each writer and reader takes its name
from here (paths are relative to the run folder, or to a sweep's folder for the summary)."""

from __future__ import annotations

from pathlib import Path

# what Hydra writes as the run starts
HYDRA_DIR = Path(".hydra")
CONFIG = HYDRA_DIR / "config.yaml"
HYDRA_CONFIG = HYDRA_DIR / "hydra.yaml"
OVERRIDES = HYDRA_DIR / "overrides.yaml"
# Hydra's log of the job (<task_name>.log, conf/hydra/default.yaml), also written as it starts
JOB_LOG_GLOB = "*.log"
# a run that is still going (host and pid)
RUNNING = ".running"
# a failed sweep job: the reason on the first line, then the traceback
FAILURE = "error.txt"

# the data
SPLITS = "splits.csv"
# the capture properties (size, format, camera, palette, background) by class
ACQUISITION = "acquisition.csv"
SKIPPED = "skipped.csv"

# training state
CHECKPOINTS = Path("checkpoints")
STAGE_CHECKPOINTS = {
    "contrastive": CHECKPOINTS / "contrastive",
    "classifier": CHECKPOINTS / "classifier",
}
# a stage's checkpoint after its last epoch, which a resumed run continues from
LAST_CHECKPOINT = "last.ckpt"
# the classifier checkpoint with the best val AUROC, which is tested
BEST_CHECKPOINT = "best-epoch{epoch:03d}"
BEST_CHECKPOINT_GLOB = "best-*.ckpt"
# stage 1's result; written last, it marks stage 1 as finished for a resume
ENCODER = CHECKPOINTS / "encoder.pt"
STAGE1_METRICS = CHECKPOINTS / "stage1_metrics.json"
# the generators' state where stage 2 starts
STAGE2_RNG = CHECKPOINTS / "stage2_rng.pt"

# results; metrics.json marks the run as finished
METRICS = "metrics.json"
RUN_INFO = "run_info.json"
# logger=mlflow: the id of the run's MLflow run, which a resumed run continues
MLFLOW_RUN = "mlflow_run.txt"
TEST_PREDICTIONS = "test_predictions.csv"
TEST_PATIENTS = "test_patients.csv"
ROC = "roc.png"
CONFUSION = "confusion_matrix.png"
RELIABILITY = "reliability.png"
EXPLAIN_DIR = Path("explain")
EXPLAIN_OVERVIEW = "overview.png"
EXPLAIN_INDEX = "index.csv"
# thermal-icas explain-cohort's class-level analysis of a finished run
COHORT_DIR = EXPLAIN_DIR / "cohort"
COHORT_MAPS = COHORT_DIR / "class_maps.png"
COHORT_REGIONS = COHORT_DIR / "regions.csv"
# validate.py: the validated run's config, with data_dir the new cohort (the report shows it)
VALIDATED_CONFIG = "validated_config.yaml"
# validate.py: the capture properties of the training and the new images
CAPTURE_SHIFT = "capture_shift.csv"
# one self-contained page of the run's results, images embedded
REPORT = "report.html"

# predict.py's output folder
PREDICTIONS = "predictions.csv"
# export.py's output folder
ONNX_MODEL = "model.onnx"
ONNX_PREPROCESS = "preprocess.json"

# a sweep's summary, in its folder
SUMMARY_CSV = "summary.csv"
SUMMARY_MARKDOWN = "summary.md"
SUMMARY_COMPARISONS = "comparisons.csv"
SUMMARY_PLOT = "summary.png"
SUMMARY_HTML = "summary.html"
# an Optuna search's best trial (hydra/sweeper=tune), written by the sweeper as it ends
SEARCH_RESULTS = "optimization_results.yaml"


def stage_checkpoints(run_dir: str | Path, stage: str) -> Path:
    """Where a stage (`contrastive` or `classifier`) keeps its checkpoints."""
    return Path(run_dir) / STAGE_CHECKPOINTS[stage]


def best_checkpoints(run_dir: str | Path) -> list[Path]:
    """The run's best classifier checkpoints, oldest epoch first."""
    return sorted(stage_checkpoints(run_dir, "classifier").glob(BEST_CHECKPOINT_GLOB))


def last_checkpoint(run_dir: str | Path, stage: str) -> Path | None:
    path = stage_checkpoints(run_dir, stage) / LAST_CHECKPOINT
    return path if path.is_file() else None
