"""Benchmark a face mask: overlap with true face masks, speed on one core, fallbacks.

    python scripts/bench_masks.py FOLDER [mask=content_based] [key=value ...]

FOLDER is either a folder of images (searched recursively; no truth, so only coverage is
reported) or a benchmark root whose sub-folders are levels, each laid out as
`<level>/images/<stem>.<ext>` with the true mask `<level>/truth/<stem>.png` (255 = face).
`mask` is any option of conf/mask, composed and instantiated as train.py does; other key=value
pairs override that option's method, as `mask.method.<key>=<value>` would in a run (e.g.
threshold=0.15 or fallback.semi_axis_x=0.3).

Decoding is not timed. The last lines are machine-readable: `ms_per_image=` (median over all
images) and, for each level with truth, `iou_<level>=` (mean IoU of mask > 0.5 with the truth).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

# One core, as the mask runs in a data loader beside others; set before numpy and torch load.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import cv2
import numpy as np
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from hydra.utils import instantiate

from thermal_icas.core.data.imageio import load_rgb
from thermal_icas.core.data.records import is_image_file, list_images
from thermal_icas.core.masks.base import FaceMask
from thermal_icas.train.config import project_root


@dataclass
class LevelResult:
    ious: list[float] = field(default_factory=list)
    coverages: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    fallbacks: int = 0


def find_levels(root: Path) -> dict[str, list[tuple[Path, Path | None]]]:
    """Level name -> (image, truth or None) pairs; a plain image folder is one level."""
    level_dirs = sorted(d for d in root.iterdir() if (d / "images").is_dir())
    if not level_dirs:
        images = list_images(root)
        return {root.name: [(p, None) for p in images]}
    levels = {}
    for level in level_dirs:
        images = sorted(p for p in (level / "images").iterdir() if is_image_file(p))
        truths = [level / "truth" / f"{p.stem}.png" for p in images]
        levels[level.name] = [
            (p, t if t.is_file() else None) for p, t in zip(images, truths, strict=True)
        ]
    return levels


def iou(mask: np.ndarray, truth: np.ndarray) -> float:
    union = np.count_nonzero(mask | truth)
    return np.count_nonzero(mask & truth) / union if union else 1.0


def bench_level(mask: FaceMask, pairs: list[tuple[Path, Path | None]]) -> LevelResult:
    result = LevelResult()
    for image_path, truth_path in pairs:
        image = load_rgb(image_path)
        start = time.perf_counter()
        computed = mask.compute(image)
        result.seconds.append(time.perf_counter() - start)
        result.fallbacks += computed.fallback
        face = np.ones(image.shape[:2], bool) if computed.mask is None else computed.mask > 0.5
        result.coverages.append(float(face.mean()))
        if truth_path is not None:
            truth = cv2.imread(str(truth_path), cv2.IMREAD_GRAYSCALE)
            if truth is None or truth.shape != face.shape:
                raise SystemExit(f"truth '{truth_path}' is unreadable or not the image's size")
            result.ious.append(iou(face, truth > 127))
    return result


def parse_overrides(args: list[str]) -> tuple[str, list[str]]:
    """The mask option (content_based unless given) and the overrides of its method."""
    name, params = "content_based", []
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise SystemExit(f"expected key=value, got '{arg}'")
        if key == "mask":
            name = value
        else:
            params.append(f"mask.method.{arg}")
    return name, params


def load_mask(name: str, params: list[str]) -> FaceMask:
    """The method of mask option `name`, composed from conf/ with `params` as train.py would
    compose it, so every mask config (a new one too) can be benchmarked. Only the method is
    built: the benchmark times the mask itself, never its disk cache."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(project_root() / "conf"), version_base="1.3"):
        options = GlobalHydra.instance().config_loader().get_group_options("mask")
        if name not in options:
            raise SystemExit(f"unknown mask '{name}'; choose one of {', '.join(options)}")
        try:
            cfg = compose(config_name="train", overrides=[f"mask={name}", *params])
            return instantiate(cfg.mask.method)
        except HydraException as error:
            raise SystemExit(f"bad parameter for mask '{name}': {error}") from error


def main(argv: list[str]) -> None:
    if not argv or argv[0] in {"-h", "--help"}:
        raise SystemExit(__doc__)
    root = Path(argv[0])
    if not root.is_dir():
        raise SystemExit(f"'{root}' is not a folder")
    mask = load_mask(*parse_overrides(argv[1:]))
    cv2.setNumThreads(1)
    levels = find_levels(root)
    if not any(levels.values()):
        raise SystemExit(f"no images under '{root}'")

    print(f"mask: {mask.cache_key()}")
    results = {level: bench_level(mask, pairs) for level, pairs in levels.items() if pairs}
    width = max(len("level"), *map(len, results)) + 2
    header = f"{'level':<{width}}{'n':>5}{'mean IoU':>10}{'p10 IoU':>10}{'coverage':>15}"
    print(f"{header}{'ms/image':>10}{'fallbacks':>11}")
    for level, r in results.items():
        mean_iou = f"{np.mean(r.ious):.4f}" if r.ious else "-"
        p10_iou = f"{np.percentile(r.ious, 10):.4f}" if r.ious else "-"
        coverage = f"{min(r.coverages):.3f}-{max(r.coverages):.3f}"
        ms = 1000 * float(np.median(r.seconds))
        print(
            f"{level:<{width}}{len(r.seconds):>5}{mean_iou:>10}{p10_iou:>10}{coverage:>15}"
            f"{ms:>10.2f}{r.fallbacks:>11}"
        )
    all_seconds = [s for r in results.values() for s in r.seconds]
    print(f"ms_per_image={1000 * float(np.median(all_seconds)):.3f}")
    for level, r in results.items():
        if r.ious:
            print(f"iou_{level}={np.mean(r.ious):.5f}")


if __name__ == "__main__":
    main(sys.argv[1:])
