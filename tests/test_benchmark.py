"""scripts/benchmark.py runs the real pipeline and the model alone and prints their ratio."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_prints_both_rates_and_their_ratio(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "benchmark.py"),
            "--steps",
            "2",
            "--warmup",
            "1",
            "data.image_size=32",
            "data.synthetic.num_patients=30",
            f"paths.cache_dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-3:]
    pattern = r"(pipeline_img_s|model_img_s|ratio)=(\d+\.\d+)"
    parsed = dict(re.fullmatch(pattern, line).groups() for line in last)  # type: ignore[union-attr]
    assert list(parsed) == ["pipeline_img_s", "model_img_s", "ratio"]
    rates = {key: float(value) for key, value in parsed.items()}
    assert rates["pipeline_img_s"] > 0 and rates["model_img_s"] > 0
    ratio = rates["pipeline_img_s"] / rates["model_img_s"]
    assert abs(rates["ratio"] - ratio) < 0.01
