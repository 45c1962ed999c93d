"""Build a labelled ICAS-like benchmark from real segmented thermal faces; score a baseline.

    python scripts/make_benchmark.py SRC OUT [--test-fraction 0.3] [--depth 0.06] [--shortcut]
    python scripts/make_benchmark.py SRC OUT --baseline-only

Real faces carry no ICAS label, so one is planted: positive patients get a smooth unilateral
cooling of the forehead/periorbital skin, `--bilateral-fraction` of the negatives the same
cooling on both sides, so only the left/right difference carries the label. `--shortcut` adds
a hot background object that tracks the label in train and is reversed in test: only a model
that ignores the background (e.g. a masked one) survives it. Writes
OUT/{train,test}/{icas,non_icas}/<patient>_<image>.jpg, OUT/manifest.json and OUT/README.txt.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from regional_baseline import (
    FACE_THRESHOLD,
    PALETTES,
    BaselineResult,
    baseline,
    bbox,
    largest_component,
    print_result,
)

CANVAS, MARGIN, JPEG_QUALITY = 512, 20, 92
CLASS_DIRS = {1: "icas", 0: "non_icas"}
# Cooling centre and size from the face bbox (offset from the midline / width, from the top /
# height, sigma_x / width, sigma_y / height): forehead and eye region.
COOLING = np.array([0.2, 0.3, 0.12, 0.12])
README = """Labelled benchmark built by thermal-icas scripts/make_benchmark.py from {src}.
The faces are real long-wave infrared images of volunteers, NOT ICAS patients: the labels are
planted (a synthetic unilateral forehead/periorbital cooling; manifest.json gives every image's
label, side and shortcut). Research use only: do not redistribute these images, and keep them
out of any code repository.
"""


def load_face(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Grey intensity (the temperature proxy) and the face: the largest non-black component."""
    image = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if image is None:
        raise SystemExit(f"cannot read {path}")
    image = (image // 257).astype(np.uint8) if image.dtype == np.uint16 else image
    gray = image if image.ndim == 2 else cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2GRAY)
    return gray, largest_component(gray > FACE_THRESHOLD)


def letterbox(gray: np.ndarray, face: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Crop to the face bbox + MARGIN px and fit it, centred, into CANVAS x CANVAS black."""
    ys, xs = np.nonzero(face)
    planes = np.dstack([np.where(face, gray, 0), face * 255.0]).astype(np.float32)
    planes = np.pad(planes, ((MARGIN, MARGIN), (MARGIN, MARGIN), (0, 0)))
    crop = planes[ys.min() : ys.max() + 2 * MARGIN + 1, xs.min() : xs.max() + 2 * MARGIN + 1]
    scale = CANVAS / max(crop.shape[:2])
    h, w = round(crop.shape[0] * scale), round(crop.shape[1] * scale)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    canvas = np.zeros((CANVAS, CANVAS, 2), np.float32)
    top, left = (CANVAS - h) // 2, (CANVAS - w) // 2
    canvas[top : top + h, left : left + w] = cv2.resize(crop, (w, h), interpolation=interp)
    mask = largest_component(canvas[..., 1] > 127)  # the mask is resized like the image
    return np.where(mask, canvas[..., 0], 0.0), mask


def cooling(mask: np.ndarray, sides: list[int], rng: np.random.Generator, jitter: float):
    """Unit-peak Gaussian on face pixels of the given sides (-1 image-left, +1 image-right),
    jittered once per image and mirrored, so a bilateral cooling has no left/right difference."""
    mid, top, width, height = bbox(mask)
    shift = np.r_[rng.normal(0, jitter, 2), 0, 0]
    du, dv, su, sv = (COOLING + shift) * np.array([width, height, width, height])
    su, sv = np.array([su, sv]) * (1 + rng.uniform(-2 * jitter, 2 * jitter))
    y, x = np.ogrid[0 : mask.shape[0], 0 : mask.shape[1]]
    field = np.zeros(mask.shape, np.float32)
    for side in sides:
        z2 = ((x - mid - side * du) / su) ** 2 + ((y - top - dv) / sv) ** 2
        field = np.maximum(field, np.exp(-0.5 * z2))
    return field * mask


def hot_object(
    mask: np.ndarray, rng: np.random.Generator, size: tuple[float, float]
) -> np.ndarray | None:
    """A warm disc or rectangle at least 16 px clear of the face, or None; its radius a random
    share `size` of the canvas."""
    keep_out = cv2.dilate(mask.astype(np.uint8), np.ones((33, 33), np.uint8)) > 0
    y, x = np.ogrid[0:CANVAS, 0:CANVAS]
    for _ in range(200):
        r = rng.uniform(*size) * CANVAS
        cx, cy = rng.uniform(r, CANVAS - r, 2)
        if rng.random() < 0.5:
            obj = (x - cx) ** 2 + (y - cy) ** 2 <= r * r
        else:
            obj = (np.abs(x - cx) <= r) & (np.abs(y - cy) <= r * rng.uniform(0.5, 1.0))
        if not np.any(obj & keep_out):
            return obj
    return None


def render(value: np.ndarray, visible: np.ndarray, palette: str) -> np.ndarray:
    """Palette on the visible pixels; the background stays black, as in masked face crops."""
    gray = np.clip(np.round(value), 0, 255).astype(np.uint8)
    colour = gray if PALETTES[palette] is None else cv2.applyColorMap(gray, PALETTES[palette])
    return np.where(visible[..., None] if colour.ndim == 3 else visible, colour, 0)


def read_sources(src: Path) -> dict[str, list[tuple[str, Path]]]:
    """Patient id (text before the last `_`) -> [(image id, path)]; ids are stripped to letters
    and digits, so the project's default patient regex reads them back."""
    patients: dict[str, list[tuple[str, Path]]] = {}
    owner: dict[str, str] = {}
    for path in sorted(src.iterdir()):
        if path.suffix.lower() not in {".png", ".jpg", ".jpeg"} or path.name.startswith("."):
            continue
        if "_" not in path.stem:
            raise SystemExit(f"{path.name}: expected <patient>_<image>")
        raw, image = path.stem.rsplit("_", 1)
        pid = re.sub(r"[^A-Za-z0-9]", "", raw)
        if not pid or owner.setdefault(pid, raw) != raw:
            raise SystemExit(f"patient ids '{raw}' and '{owner.get(pid)}' collide as '{pid}'")
        images = patients.setdefault(pid, [])
        if (image := re.sub(r"[^A-Za-z0-9]", "", image)) in dict(images):
            raise SystemExit(f"{path.name}: patient {pid} has image '{image}' twice")
        images.append((image, path))
    return patients


def choose(n: int, fraction: float, rng: np.random.Generator, at_least: int = 0) -> np.ndarray:
    """Boolean mask of round(n * fraction) of n, at random (at least `at_least` if fraction>0)."""
    chosen = np.zeros(n, bool)
    chosen[rng.permutation(n)[: min(n, max(round(n * fraction), at_least * (fraction > 0)))]] = 1
    return chosen


def build(src: Path, out: Path, spec: dict) -> list[dict]:
    """Render every source image into OUT; write manifest.json and README.txt. Each patient
    draws from its own generators, so its images do not depend on the other patients."""
    patients = read_sources(src)
    pids = sorted(patients)
    label_seq, split_seq, *patient_seqs = np.random.SeedSequence(spec["seed"]).spawn(len(pids) + 2)
    labels = choose(len(pids), spec["positive_fraction"], np.random.default_rng(label_seq))
    test, split_rng = np.zeros(len(pids), bool), np.random.default_rng(split_seq)
    for label in (True, False):  # stratified: each split gets about the positive share
        (members,) = np.nonzero(labels == label)
        test[members] = choose(len(members), spec["test_fraction"], split_rng, len(members) >= 2)
    depth, rate, records = 255.0 * spec["depth"], spec["shortcut_rate"], []
    for pid, label, in_test, seq in zip(pids, labels, test, patient_seqs, strict=True):
        cool_rng, object_rng = (np.random.default_rng(s) for s in seq.spawn(2))
        side = int(cool_rng.choice([-1, 1]))
        bilateral = not label and cool_rng.random() < spec["bilateral_fraction"]
        split = "test" if in_test else "train"
        sides = [side] if label else [-1, 1] if bilateral else []
        for image_id, path in patients[pid]:
            value, mask = letterbox(*load_face(path))
            value -= depth * cooling(mask, sides, cool_rng, spec["jitter"])
            visible, present = mask, False
            wanted = object_rng.random() < (rate if bool(label) == (split == "train") else 1 - rate)
            if (
                spec["shortcut"]
                and wanted
                and (obj := hot_object(mask, object_rng, spec["shortcut_size"])) is not None
            ):
                value = np.where(obj, object_rng.uniform(0.8, 1.0) * 255, value)
                visible, present = mask | obj, True
            rel = f"{split}/{CLASS_DIRS[int(label)]}/{pid}_{image_id}.jpg"
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            image = render(value, visible, spec["palette"])
            if not cv2.imwrite(str(out / rel), image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
                raise SystemExit(f"cannot write {out / rel}")
            records.append(
                {"file": rel, "patient": pid, "source": path.name, "label": int(label)}
                | {"signal_side": ("left", "right")[side > 0] if label else None}
                | {"signal_magnitude": spec["depth"] if label else 0.0, "bilateral": bilateral}
                | {"shortcut": present, "split": split}
            )
    convention = "left/right refer to the image, not the patient"
    manifest = {"side_convention": convention, "spec": spec, "images": records}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True))
    (out / "README.txt").write_text(README.format(src=src))
    return records


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add = parser.add_argument
    add("src", type=Path, help="folder of <patient>_<image>.{png,jpg} segmented faces")
    add("out", type=Path, help="benchmark folder to write (or to score, --baseline-only)")
    add("--seed", type=int, default=0, help="labels, sides, split, jitter, shortcut, CV folds")
    add("--test-fraction", type=float, default=0.3, help="patients; 0: no test folder (CV)")
    add("--positive-fraction", type=float, default=1 / 3, help="patients, stratified by split")
    add("--depth", type=float, default=0.06, help="peak cooling as a share of 0-255")
    add("--jitter", type=float, default=0.03, help="per image: position sd, size +-2x (bbox)")
    add("--bilateral-fraction", type=float, default=0.0, help="negatives cooled on both sides")
    add("--shortcut", action="store_true", help="hot background object, reversed in test")
    add("--shortcut-rate", type=float, default=0.9, help="its rate with the label it tracks")
    add("--shortcut-size", type=float, nargs=2, default=(0.025, 0.06), help="radius / canvas")
    add("--palette", choices=sorted(PALETTES), default="inferno")
    add("--overwrite", action="store_true", help="replace OUT/train and OUT/test")
    add("--baseline-only", action="store_true", help="only score the benchmark in OUT")
    args = parser.parse_args(argv)
    fractions = ("test_fraction", "positive_fraction", "bilateral_fraction", "shortcut_rate")
    if not all(0 <= getattr(args, name) <= 1 for name in (*fractions, "depth")) or args.jitter < 0:
        parser.error("fractions, rates and --depth must lie in [0, 1], --jitter must be >= 0")
    return args


def main(argv: list[str] | None = None) -> BaselineResult:
    args = parse_args(argv)
    if not args.baseline_only:
        for split in ("train", "test"):
            if (args.out / split).exists() and not args.overwrite:
                raise SystemExit(f"{args.out / split} exists (--overwrite replaces it)")
            shutil.rmtree(args.out / split, ignore_errors=True)
        args.out.mkdir(parents=True, exist_ok=True)
        skip = {"out", "overwrite", "baseline_only"}
        spec = {k: str(v) if k == "src" else v for k, v in vars(args).items() if k not in skip}
        start = time.perf_counter()
        first = {r["patient"]: r for r in build(args.src, args.out, spec)}.values()
        n_pos, n_test = sum(p["label"] for p in first), sum(p["split"] == "test" for p in first)
        print(f"built {len(first)} patients ({n_pos} ICAS, {n_test} in test) into {args.out}")
        print(f"build_seconds={time.perf_counter() - start:.1f}")
    start = time.perf_counter()
    result = baseline(args.out, seed=None if args.baseline_only else args.seed)
    print_result(result, time.perf_counter() - start)
    return result


if __name__ == "__main__":
    main()
