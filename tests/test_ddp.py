"""trainer=ddp on CPU: two gloo processes, one set of outputs per run, also inside a sweep."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the two-process runs one after the other on one test worker, not beside each other
pytestmark = pytest.mark.xdist_group("ddp")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "local"])
def test_ddp_sweep_trains_with_two_processes_and_keeps_outputs_together(
    tmp_path: Path, launcher: str
) -> None:
    """Each job's second process joins the job's own folder, under either launcher, and each
    process trains on its share even where that is smaller than a batch (42 training images,
    21 per process, batches of 32)."""
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "train.py"),
            "-m",
            "experiment=smoke",
            "debug=fast",
            "trainer=ddp",
            "seed=1,2",
            f"hydra/launcher={launcher}",
            "threads=1",
            "training.contrastive.batch_size=32",
            "training.finetune.batch_size=32",
            "callbacks.common.progress_bar=null",
            f"paths.log_dir={tmp_path / 'outputs'}",
            f"paths.cache_dir={tmp_path / 'cache'}",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = (tmp_path / "outputs" / "train" / "multiruns").iterdir()
    assert sorted(p.name for p in sweep.iterdir()) == ["0", "1", "multirun.yaml"]
    assert not list(tmp_path.rglob(".pl_ddp*")), "DDP processes must not scatter outputs"
    for job in ("0", "1"):
        out = sweep / job
        log = (out / "train.log").read_text()
        assert "MEMBER: 2/2" in log, "the second process ran"
        assert "No training batches" not in log
        assert list((out / "checkpoints" / "classifier").glob("best-*.ckpt"))
        assert not (out / "error.txt").exists()
        metrics = json.loads((out / "metrics.json").read_text())
        assert 0.0 <= metrics["test/auroc"] <= 1.0
        assert 0.0 <= metrics["contrastive/probe_auroc"] <= 1.0, "rank 0 ran the probes"
        test_images = {row["path"] for row in _rows(out / "splits.csv") if row["split"] == "test"}
        predicted = [row["path"] for row in _rows(out / "test_predictions.csv")]
        assert sorted(predicted) == sorted(test_images), "every test image once, on rank 0"


def test_extra_processes_keep_the_config_flags_of_the_command_line() -> None:
    from thermal_icas.train.ddp_jobs import config_flags

    argv = ["-m", "--config-dir", "/cfg", "seed=1,2", "-cn=mine", "--cfg", "job", "trainer=ddp"]
    assert config_flags(argv) == ["--config-dir", "/cfg", "-cn=mine"]
