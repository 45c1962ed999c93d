"""The commands that look at a dataset before any training: `audit` (the same picture under two
patients or classes; whether the classes differ in how they were captured), `masks` (every
image's face mask written out) and `preview` (a contact sheet of what the model will see)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from thermal_icas.core.errors import USER_ERRORS, DatasetError
from thermal_icas.train.config import compose_config, project_root


def audit(argv: Sequence[str], prog: str) -> int:
    """Reads DATA_DIR as a run does (class folders; patient ids by --patient-from and
    --patient-regex, defaults from conf/data/default.yaml) and hashes every image as a run does
    (cached in <cache-dir>/hashes). Prints each pair of images of different patients within
    --distance bits as one tab-separated line `distance path patient class path patient class`;
    then the acquisition audit's properties that differ most by class, `property auroc
    mean_<first class> mean_<second class>`; last `duplicate_pairs=N cross_class_pairs=M
    acquisition_auroc=A ci_low=L ci_high=H`. Exit status 1 when a pair crosses the classes or
    the audit's interval lies above 0.6, 2 for a bad folder (one line), else 0."""
    from thermal_icas.core.data.classes import resolve_classes
    from thermal_icas.core.data.confound import audit_rows
    from thermal_icas.core.data.duplicates import HashCache, find_duplicates
    from thermal_icas.core.data.records import find_class_dirs, scan_folder

    defaults = OmegaConf.load(project_root() / "conf" / "data" / "default.yaml")
    parser = argparse.ArgumentParser(prog=prog, description=" ".join(audit.__doc__.split()))
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--patient-from", default=defaults.patient_from)
    parser.add_argument("--patient-regex", default=defaults.patient_regex)
    parser.add_argument("--distance", type=int, default=defaults.duplicate_distance)
    parser.add_argument("--cache-dir", type=Path, default=project_root() / ".cache")
    args = parser.parse_args(argv)
    try:
        classes = resolve_classes(find_class_dirs(args.data_dir), None, str(args.data_dir))
        records = scan_folder(args.data_dir, classes, args.patient_regex, args.patient_from)
        hashes = HashCache(args.cache_dir / "hashes")
        usable = []
        for record in records:
            try:
                hashes(record.path)
                usable.append(record)
            except DatasetError as error:
                print(f"skipped: {error}", file=sys.stderr)
        pairs = find_duplicates(usable, hashes, args.distance)
        acquisition = audit_rows([(r, "") for r in usable], args.cache_dir, seed=0)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for pair in pairs:
        sides = [
            f"{r.path}\t{r.patient}\t{classes.names[r.label]}" for r in (pair.first, pair.second)
        ]
        print("\t".join([str(pair.distance), *sides]))
    for d in acquisition.differences:
        print(f"{d.name}\t{d.auroc:.3f}\t{d.negative_mean:.4g}\t{d.positive_mean:.4g}")
    if acquisition.alarm:
        print(acquisition.message(), file=sys.stderr)
    cross = sum(pair.across_classes for pair in pairs)
    low, high = acquisition.interval
    print(
        f"duplicate_pairs={len(pairs)} cross_class_pairs={cross} "
        f"acquisition_auroc={acquisition.auroc:.3f} ci_low={low:.3f} ci_high={high:.3f}"
    )
    return 1 if cross or acquisition.alarm else 0


def export_masks(cfg: DictConfig) -> None:
    """conf/export_masks.yaml: one 8-bit PNG mask (0-255) per image of data_dir at its own size,
    in out_dir/<relative path>.png, beside out_dir/contact_sheet.png (image | mask | masked)."""
    from thermal_icas.analysis.contact_sheet import contact_sheet
    from thermal_icas.core.data.reading import Reading
    from thermal_icas.core.data.records import list_images
    from thermal_icas.core.masks.cache import mask_to_uint8
    from thermal_icas.core.masks.masking import Masking

    data_dir, out_dir = Path(cfg.data_dir).expanduser(), Path(cfg.out_dir).expanduser()
    if not data_dir.is_dir():
        raise SystemExit(f"error: data_dir '{data_dir}' does not exist or is not a folder")
    paths = list_images(data_dir)
    if not paths:
        raise SystemExit(f"error: data_dir '{data_dir}' holds no images")
    masking: Masking = instantiate(cfg.mask)
    reading = Reading(cfg.format, cfg.temperature_window, cfg.counts_to_celsius)
    masking.read_as(reading.key())
    coverages, fallbacks, skipped, done = [], 0, 0, []
    for path in paths:
        try:
            image = reading(path)[0]
        except DatasetError as error:
            print(f"skipped: {error}", file=sys.stderr)
            skipped += 1
            continue
        done.append(path)
        result = masking.mask_for(str(path), image)
        mask = result.mask if result.mask is not None else np.ones(image.shape[:2], np.float32)
        target = (out_dir / path.relative_to(data_dir)).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target), mask_to_uint8(mask))
        coverages.append(float(mask.mean()))
        fallbacks += result.fallback
    if not done:
        raise SystemExit(f"error: no image of '{data_dir}' could be read")
    step = max(1, len(done) // cfg.sheet_images)
    sample = [str(p) for p in done[::step]][: cfg.sheet_images]
    sheet = contact_sheet(sample, masking, masking.background(cfg.mean, cfg.std), reading)
    cv2.imwrite(str(out_dir / "contact_sheet.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    print(
        f"images={len(paths)} skipped={skipped} fallbacks={fallbacks} "
        f"mean_coverage={np.mean(coverages):.4f}"
    )
    print(f"masks written to {out_dir}")


def preview(argv: Sequence[str], prog: str) -> None:
    """A contact sheet of a dataset after loading and masking, one row per class, to check by
    eye what the model will be trained on. Takes the train command's overrides (e.g.
    data.data_dir=/path/to/data mask=ellipse); without any, the embedded synthetic dataset."""
    parser = argparse.ArgumentParser(prog=prog, description=" ".join(preview.__doc__.split()))
    parser.add_argument("--out", type=Path, default=Path("dataset_preview.png"))
    parser.add_argument("--per-class", type=int, default=6)
    parser.add_argument("overrides", nargs="*", help="train overrides, key=value")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:  # the composed run's folder, not kept
        cfg = compose_config(args.overrides, scratch)
    with open_dict(cfg):
        cfg.data.image_size = 128
    data = instantiate(cfg.data)
    data.setup()
    rows = []
    for label, name in enumerate(data.classes.names):
        picked = [i for i, (r, _) in enumerate(data.rows) if r.label == label][: args.per_class]
        tiles = [data.images[i].permute(1, 2, 0).numpy() for i in picked]
        tiles += [np.zeros((128, 128, 3), np.uint8)] * (args.per_class - len(tiles))
        row = np.ascontiguousarray(np.hstack(tiles))
        cv2.putText(row, name, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1)
        rows.append(row)
    cv2.imwrite(str(args.out), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
    print(
        f"wrote {args.out} ({len(data.rows)} images; native size of the first: "
        f"{data.reading(data.rows[0][0].path)[0].shape[:2]})"
    )
