"""A run killed mid-stage resumes in its folder and ends with the uninterrupted run's metrics."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import drop_checkpoints
from thermal_icas.core.errors import PretrainedWeightsError
from thermal_icas.train.resume import Resume

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
STAGE_CHECKPOINT = {
    "stage1": Path("checkpoints") / "contrastive" / "last.ckpt",
    "stage2": Path("checkpoints") / "classifier" / "last.ckpt",
}


def _command(cache: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "train.py"),
        "experiment=smoke",
        "training.contrastive.epochs=3",
        "training.finetune.epochs=5",
        "callbacks.common.progress_bar=null",
        f"paths.cache_dir={cache}",
        *overrides,
    ]


@pytest.fixture(scope="module")
def uninterrupted(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, float]]]:
    root = tmp_path_factory.mktemp("resume")
    out = root / "uninterrupted"
    result = subprocess.run(
        _command(root / "cache", f"hydra.run.dir={out}"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    yield root, json.loads((out / "metrics.json").read_text())
    drop_checkpoints(root)


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
def test_killed_run_resumes_to_the_same_metrics(
    uninterrupted: tuple[Path, dict[str, float]], stage: str
) -> None:
    root, expected = uninterrupted
    out = root / f"killed_{stage}"
    process = subprocess.Popen(
        _command(root / "cache", f"hydra.run.dir={out}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while not (out / STAGE_CHECKPOINT[stage]).exists():
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.kill()  # mid-stage: the stage's first epoch checkpoint has just been written
    process.wait()
    assert not (out / "metrics.json").exists()

    result = subprocess.run(
        _command(root / "cache", f"resume={out}"), capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming" in (out / "train.log").read_text()
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed.keys() == expected.keys()
    for key, value in expected.items():
        assert resumed[key] == pytest.approx(value, abs=1e-6), key


def test_a_run_killed_as_stage_1_ended_resumes_to_the_same_metrics(
    uninterrupted: tuple[Path, dict[str, float]],
) -> None:
    """Killed between stage 1's last checkpoint and its encoder file: the folder then holds
    the config and that checkpoint only."""
    root, expected = uninterrupted
    done, out = root / "uninterrupted", root / "killed_as_stage1_ended"
    shutil.copytree(done / ".hydra", out / ".hydra")
    shutil.copytree(
        done / STAGE_CHECKPOINT["stage1"].parent, out / STAGE_CHECKPOINT["stage1"].parent
    )
    result = subprocess.run(
        _command(root / "cache", f"resume={out}"), capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = json.loads((out / "metrics.json").read_text())
    assert resumed.keys() == expected.keys()
    for key, value in expected.items():
        assert resumed[key] == pytest.approx(value, abs=1e-6), key


def test_a_finished_run_is_never_overwritten(
    uninterrupted: tuple[Path, dict[str, float]],
) -> None:
    root, _ = uninterrupted
    out = root / "uninterrupted"
    files = [
        out / "metrics.json",
        out / ".hydra" / "config.yaml",
        out / ".hydra" / "overrides.yaml",
    ]
    before = [path.read_bytes() for path in files]
    for extra in (f"hydra.run.dir={out}", f"resume={out}"):
        result = subprocess.run(
            _command(root / "cache", extra), capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 1
        assert "holds a finished run" in result.stderr
        assert "Traceback" not in result.stderr
    assert [path.read_bytes() for path in files] == before


def test_a_damaged_last_checkpoint_is_named_not_a_traceback(tmp_path: Path) -> None:
    last = tmp_path / STAGE_CHECKPOINT["stage2"]
    last.parent.mkdir(parents=True)
    last.write_bytes(b"PK\x03\x04 cut short")
    resuming = Resume(tmp_path, on=True)
    with pytest.raises(PretrainedWeightsError, match="delete it and resume again: classifier"):
        resuming.checkpoint("classifier")
    assert resuming.checkpoint("contrastive") is None
    assert Resume(tmp_path, on=False).checkpoint("classifier") is None
