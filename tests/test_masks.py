"""Face masks on synthetic thermal faces drawn here: what each mask keeps, drops and reports."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from thermal_icas.core.data.imageio import load_rgb
from thermal_icas.core.masks.base import FaceMask
from thermal_icas.core.masks.content import ContentBasedMask
from thermal_icas.core.masks.geometric import AdaptiveMask, EllipseMask, RectangleMask

H, W = 240, 200
CENTRE, AXES = (100, 124), (62, 84)  # (x, y) of the face ellipse, its semi-axes in pixels


def face_picture() -> tuple[np.ndarray, np.ndarray]:
    """A warm face (0.45 at its rim, 0.85 inside) on black, and its true HxW bool outline."""
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    r2 = ((x - CENTRE[0]) / AXES[0]) ** 2 + ((y - CENTRE[1]) / AXES[1]) ** 2
    truth = r2 <= 1.0
    skin = 0.45 + 0.4 * (1.0 - r2) + 0.03 * np.sin(x / 5.0) * np.cos(y / 7.0)
    return np.where(truth, skin, 0.0).astype(np.float32), truth


def as_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(gray, 0.0, 1.0)[:, :, None], 3, axis=2).astype(np.float32)


def iou(mask: np.ndarray, truth: np.ndarray) -> float:
    face = mask > 0.5
    return np.count_nonzero(face & truth) / np.count_nonzero(face | truth)


def test_cold_glasses_and_nose_tip_are_filled() -> None:
    gray, truth = face_picture()
    gray[100:118, 55:145] = 0.02  # glasses band across the eyes, inside the face
    cv2.circle(gray, (100, 140), 7, 0.05, -1)  # cold nose tip
    result = ContentBasedMask().compute(as_rgb(gray))
    assert not result.fallback
    assert (result.mask[102:116, 58:142] > 0.5).all()
    assert (result.mask[136:145, 96:105] > 0.5).all()
    assert iou(result.mask, truth) > 0.99


def test_disconnected_warm_blobs_are_dropped() -> None:
    gray, truth = face_picture()
    cv2.circle(gray, (15, 20), 10, 0.9, -1)  # lamp
    cv2.rectangle(gray, (175, 190), (195, 230), 0.7, -1)  # radiator
    result = ContentBasedMask().compute(as_rgb(gray))
    assert not result.fallback
    assert (result.mask[10:31, 5:26] < 0.5).all()
    assert (result.mask[190:231, 175:196] < 0.5).all()
    assert iou(result.mask, truth) > 0.99


def test_noise_floor_is_ignored() -> None:
    gray, truth = face_picture()
    noise = np.random.default_rng(0).uniform(0.0, 0.12, size=gray.shape).astype(np.float32)
    result = ContentBasedMask().compute(as_rgb(np.where(truth, gray, noise)))
    assert not result.fallback
    assert iou(result.mask, truth) > 0.99


@pytest.mark.parametrize("direction", ["horizontal", "vertical", "diagonal"])
def test_warm_gradient_background_still_yields_the_face(direction: str) -> None:
    gray, truth = face_picture()
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    ramp = {"horizontal": x / W, "vertical": y / H, "diagonal": (x / W + y / H) / 2}[direction]
    wall = 0.3 * ramp  # a warm wall, up to 30% of full scale on the far side
    result = ContentBasedMask().compute(as_rgb(np.where(truth, gray, wall)))
    assert not result.fallback
    assert iou(result.mask, truth) > 0.97


def test_all_black_image_falls_back_to_the_ellipse() -> None:
    image = np.zeros((H, W, 3), np.float32)
    result = ContentBasedMask().compute(image)
    assert result.fallback
    np.testing.assert_array_equal(result.mask, EllipseMask().compute(image).mask)


def test_implausibly_small_face_falls_back() -> None:
    image = np.zeros((H, W, 3), np.float32)
    cv2.circle(image, (100, 120), 10, (0.8, 0.8, 0.8), -1)  # 0.7% of the frame
    assert ContentBasedMask().compute(image).fallback


def test_geometric_masks_cover_the_stated_share_and_never_fall_back() -> None:
    image = np.zeros((512, 512, 3), np.float32)
    ellipse = EllipseMask().compute(image)
    rectangle = RectangleMask().compute(image)
    adaptive = AdaptiveMask().compute(image)
    assert not (ellipse.fallback or rectangle.fallback or adaptive.fallback)
    assert abs(ellipse.mask.mean() - np.pi * 0.35 * 0.40) < 0.01
    assert abs(ellipse.mask.mean() - 0.44) < 0.01
    assert abs(rectangle.mask.mean() - 0.56) < 0.01
    # Between its full-weight core alone and its whole box at full weight.
    core, box = np.pi * 0.30 * 0.35, 0.60 * 0.70
    assert core + 0.01 < adaptive.mask.mean() < box - 0.01
    assert set(np.unique(adaptive.mask)) == {0.0, 0.5, 1.0}


def _write_gray_rgb_16bit(tmp_path: Path, gray: np.ndarray) -> list[np.ndarray]:
    u8 = np.rint(np.clip(gray, 0.0, 1.0) * 255).astype(np.uint8)
    files = {
        "gray.png": u8,
        "rgb.png": np.repeat(u8[:, :, None], 3, axis=2),
        "gray16.png": u8.astype(np.uint16) * 257,
    }
    for name, array in files.items():
        assert cv2.imwrite(str(tmp_path / name), array)
    return [load_rgb(tmp_path / name) for name in files]


@pytest.mark.parametrize("wall", [False, True])
def test_gray_rgb_and_16bit_give_the_same_mask(tmp_path: Path, wall: bool) -> None:
    gray, truth = face_picture()
    if wall:
        gray = np.where(truth, gray, 0.25 * np.mgrid[0:H, 0:W][1] / W)
    masks = [
        ContentBasedMask().compute(image).mask for image in _write_gray_rgb_16bit(tmp_path, gray)
    ]
    for mask in masks[1:]:
        np.testing.assert_allclose(mask, masks[0], atol=1e-3)


ALL_MASKS = [ContentBasedMask(), EllipseMask(), RectangleMask(), AdaptiveMask()]


@pytest.mark.parametrize("mask", ALL_MASKS, ids=lambda m: type(m).__name__)
def test_output_is_a_float32_hxw_mask_in_unit_range(mask: FaceMask) -> None:
    gray, _ = face_picture()
    result = mask.compute(as_rgb(gray))
    assert result.mask.shape == (H, W)
    assert result.mask.dtype == np.float32
    assert result.mask.min() >= 0.0
    assert result.mask.max() <= 1.0


@pytest.mark.parametrize(
    ("make", "changed"),
    [
        (ContentBasedMask, {"threshold": 0.2}),
        (ContentBasedMask, {"edge_sigma": 0.0}),
        (ContentBasedMask, {"fallback": RectangleMask()}),
        (EllipseMask, {"semi_axis_y": 0.45}),
        (RectangleMask, {"width": 0.6}),
        (AdaptiveMask, {"box_weight": 0.3}),
    ],
)
def test_cache_key_tells_parameters_apart(make: type[FaceMask], changed: dict) -> None:
    assert make().cache_key() == make().cache_key()
    assert make(**changed).cache_key() != make().cache_key()
