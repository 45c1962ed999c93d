"""How masks are applied and cached: background policy, disk cache, once-per-run computation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import make_toy_dataset, thermal_data
from thermal_icas.core.masks import FaceMask, Masking, MaskResult
from thermal_icas.core.masks.content import ContentBasedMask
from thermal_icas.core.masks.geometric import EllipseMask

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CALLS = {"count": 0}


class CountingMask(FaceMask):
    """A centred disk that counts how often a mask is really computed."""

    def __init__(self, radius: float = 0.4) -> None:
        self.radius = radius

    def compute(self, image: np.ndarray) -> MaskResult:
        CALLS["count"] += 1
        h, w = image.shape[:2]
        yy, xx = np.mgrid[:h, :w]
        inside = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 <= (self.radius * min(h, w)) ** 2
        return MaskResult(inside.astype(np.float32) * 0.7 + 0.1, fallback=self.radius > 1)


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS["count"] = 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, [0.0, 0.0, 0.0]),
        (0.25, [0.25, 0.25, 0.25]),
        ("mean", list(MEAN)),
        (-1.0, [m - s for m, s in zip(MEAN, STD, strict=True)]),
    ],
)
def test_background_values(value: float | str, expected: list[float]) -> None:
    background = Masking(EllipseMask(), background_value=value).background(MEAN, STD)
    np.testing.assert_allclose(background, expected, rtol=1e-6)
    normalised = (background - np.array(MEAN)) / np.array(STD)
    if value == -1.0:
        np.testing.assert_allclose(normalised, -1.0, rtol=1e-5)
    if value == "mean":
        np.testing.assert_allclose(normalised, 0.0, atol=1e-6)


@pytest.mark.parametrize("value", ["grey", None, 7, -0.5, "nan"])
def test_unknown_background_value_names_the_setting(value: object) -> None:
    with pytest.raises(ValueError, match=rf"mask\.background_value='{value}'.*in \[0, 1\]"):
        Masking(EllipseMask(), background_value=value).background(MEAN, STD)  # type: ignore[arg-type]


def test_apply_blends_into_the_background(tmp_path: Path) -> None:
    image = np.full((20, 20, 3), 0.8, np.float32)
    masked = Masking(CountingMask()).apply("unused.png", image, np.full(3, 0.2, np.float32))
    weight = masked.mask[:, :, None]
    expected = np.broadcast_to(0.8 * weight + 0.2 * (1 - weight), masked.image.shape)
    np.testing.assert_allclose(masked.image, expected, atol=1e-6)
    assert masked.image[0, 0, 0] == pytest.approx(0.8 * 0.1 + 0.2 * 0.9, abs=1 / 255)


def test_disk_cache_is_keyed_by_content_and_parameters(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 2, "non_icas": 2}, size=24)
    paths = sorted(str(p) for p in root.rglob("*.png"))
    images = {p: cv2.imread(p).astype(np.float32) / 255 for p in paths}

    first = Masking(CountingMask(), cache_dir=str(tmp_path / "masks"))
    fresh = [first.mask_for(p, images[p]).mask for p in paths]
    assert CALLS["count"] == len(paths)

    second = Masking(CountingMask(), cache_dir=str(tmp_path / "masks"))
    cached = [second.mask_for(p, images[p]).mask for p in paths]
    assert CALLS["count"] == len(paths), "a warm cache must not recompute"
    for a, b in zip(fresh, cached, strict=True):
        np.testing.assert_array_equal(a, b)

    Masking(CountingMask(radius=0.3), cache_dir=str(tmp_path / "masks")).mask_for(
        paths[0], images[paths[0]]
    )
    assert CALLS["count"] == len(paths) + 1, "other parameters must miss the cache"

    Path(paths[1]).write_bytes(Path(paths[2]).read_bytes())
    second.mask_for(paths[1], images[paths[1]])
    assert CALLS["count"] == len(paths) + 1, "same content, same mask"
    cv2.imwrite(paths[1], np.zeros((24, 24, 3), np.uint8))
    second.mask_for(paths[1], images[paths[1]])
    assert CALLS["count"] == len(paths) + 2, "changed content must miss the cache"


def test_a_cached_mask_of_another_shape_is_replaced(tmp_path: Path) -> None:
    image = np.ones((12, 10, 3), np.float32)
    (tmp_path / "a.png").write_bytes(b"content")
    masking = Masking(CountingMask(), cache_dir=str(tmp_path / "masks"))
    masking.mask_for(str(tmp_path / "a.png"), image)
    (stored,) = (tmp_path / "masks").rglob("*.png")
    cv2.imwrite(str(stored), np.zeros((5, 5), np.uint8))
    assert masking.mask_for(str(tmp_path / "a.png"), image).mask.shape == (12, 10)
    assert CALLS["count"] == 2
    assert masking.mask_for(str(tmp_path / "a.png"), image).mask.shape == (12, 10)
    assert CALLS["count"] == 2, "the recomputed mask replaced the bad file"


def test_fallback_flag_survives_the_cache(tmp_path: Path) -> None:
    image = np.ones((10, 10, 3), np.float32)
    (tmp_path / "a.png").write_bytes(b"content")
    masking = Masking(CountingMask(radius=2.0), cache_dir=str(tmp_path / "masks"))
    assert masking.mask_for(str(tmp_path / "a.png"), image).fallback
    assert masking.mask_for(str(tmp_path / "a.png"), image).fallback
    assert CALLS["count"] == 1


def test_masks_are_computed_once_per_image_not_per_epoch(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 6, "non_icas": 12}, size=24)
    data = thermal_data(tmp_path, data_dir=str(root), mask=Masking(CountingMask()))
    data.setup()
    assert CALLS["count"] == len(data.rows)
    loader = data.for_stage(batch_size=4, views=2).loader("train", train=True, views=2)
    for _epoch in range(2):
        for _batch in loader:
            pass
    assert CALLS["count"] == len(data.rows)
    stats = data.mask_summary()
    assert 0.0 < stats["data/mask_coverage/train"] < 1.0 and stats["data/mask_fallbacks/train"] == 0


@pytest.mark.slow
def test_export_cli_writes_one_mask_per_image(tmp_path: Path) -> None:
    root = make_toy_dataset(tmp_path / "d", {"icas": 2, "non_icas": 2}, size=30)
    (root / "icas" / "sub").mkdir()
    cv2.imwrite(str(root / "icas" / "sub" / "X1_1.jpg"), np.full((20, 36, 3), 120, np.uint8))
    out = tmp_path / "out"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "thermal_icas.cli",
            "masks",
            f"data_dir={root}",
            f"out_dir={out}",
            "mask=ellipse",
            "mask.method.semi_axis_x=0.3",
            f"hydra.run.dir={tmp_path / 'log'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    expected = sorted(
        p.relative_to(root).with_suffix(".png").as_posix()
        for p in root.rglob("*")
        if p.suffix in {".png", ".jpg"}
    )
    assert written == sorted([*expected, "contact_sheet.png"])
    mask = cv2.imread(str(out / "icas" / "sub" / "X1_1.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == (20, 36) and mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
    assert "fallbacks=0" in result.stdout and "mean_coverage=" in result.stdout


def test_all_black_image_falls_back_with_a_warning_naming_the_file_cached_or_not(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "P9_1.png"
    cv2.imwrite(str(path), np.zeros((40, 32, 3), np.uint8))
    image = np.zeros((40, 32, 3), np.float32)
    results = []
    for _run in ("cold cache", "warm cache"):
        masking = Masking(ContentBasedMask(), cache_dir=str(tmp_path / "masks"))
        caplog.clear()
        with caplog.at_level("WARNING"):
            results.append(masking.mask_for(str(path), image))
        assert [r for r in caplog.records if "P9_1.png" in r.getMessage()], _run
    assert results[0].fallback and results[1].fallback
    np.testing.assert_array_equal(results[0].mask, results[1].mask)
