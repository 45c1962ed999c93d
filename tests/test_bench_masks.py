"""scripts/bench_masks.py: every option of conf/mask is benchmarked as a run would build it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest
from hydra.utils import instantiate

from tests.conftest import CONF_DIR, ComposeFn, load_script, write_image

MASKS = sorted(p.stem for p in (CONF_DIR / "mask").glob("*.yaml"))


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    # the script pins the BLAS pools to one thread when imported: not for later tests too
    with pytest.MonkeyPatch.context() as patch:
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            patch.setenv(name, os.environ.get(name, ""))
        yield load_script("bench_masks")


@pytest.mark.parametrize("mask", MASKS)
def test_every_mask_option_is_the_runs_mask(
    bench: ModuleType, compose_cfg: ComposeFn, mask: str
) -> None:
    built = bench.load_mask(*bench.parse_overrides([f"mask={mask}"]))
    in_run = instantiate(compose_cfg([f"mask={mask}"]).mask).method
    assert built.cache_key() == in_run.cache_key()


def test_parameters_override_the_method_and_mistakes_are_named(bench: ModuleType) -> None:
    mask = bench.load_mask(*bench.parse_overrides(["threshold=0.15", "fallback.semi_axis_x=0.3"]))
    assert mask.threshold == 0.15 and mask.fallback.semi_axis_x == 0.3
    with pytest.raises(SystemExit, match="unknown mask 'oval'; choose one of adaptive"):
        bench.load_mask(*bench.parse_overrides(["mask=oval"]))
    with pytest.raises(SystemExit, match="bad parameter for mask 'ellipse'"):
        bench.load_mask(*bench.parse_overrides(["mask=ellipse", "radius=0.3"]))


def test_a_level_with_truth_is_scored(
    bench: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    face = np.zeros((40, 40), np.uint8)
    cv2.ellipse(face, (20, 20), (14, 16), 0, 0, 360, 255, -1)
    write_image(tmp_path / "clean" / "images" / "a.png", np.dstack([face // 2] * 3))
    write_image(tmp_path / "clean" / "truth" / "a.png", face)
    threads = cv2.getNumThreads()
    try:
        bench.main([str(tmp_path), "mask=content_based"])
    finally:
        cv2.setNumThreads(threads)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2].startswith("ms_per_image=")
    assert lines[-1].startswith("iou_clean=") and float(lines[-1].split("=")[1]) > 0.9
