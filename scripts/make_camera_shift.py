"""The faces of a benchmark as a second camera shows them: train on camera A, test on camera B.

    python scripts/make_camera_shift.py BENCH OUT [--palette gray] [--scale 0.5] [--seed 0]

BENCH is a folder `make_benchmark.py` wrote (build it with `--test-fraction 0` to have every
person in its train/ folder). OUT gets camera_a/<class>/ (the images as they are) and
camera_b/<class>/ (the same people and file names, each image turned back into intensity and
rendered through `thermal_icas.core.data.camera.CameraShift`: coarser resolution, another response
curve and gain, noise with a fixed column pattern, blur, vignetting, a background level, and
`--palette`, by default BENCH's own, so one `data.palette` reads both). Train on camera_a and
score the run's test patients on camera_b too:

    python train.py -m experiment=cv asymmetry=on data.data_dir=OUT/camera_a \\
        eval.shift_dir=OUT/camera_b

The hand-made regional |left-right| baseline is scored the same way and printed: fitted on
camera A in 5 patient-grouped folds, each fold's held-out people scored on both cameras, with
the drop between them paired by patient.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from thermal_icas.core.data.camera import CameraShift
from thermal_icas.core.evaluation.bootstrap import BootstrapSettings
from thermal_icas.core.evaluation.compare import PatientSet, paired_difference
from thermal_icas.core.evaluation.stats import bootstrap_intervals

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_benchmark import CLASS_DIRS, JPEG_QUALITY
from regional_baseline import PALETTES, intensity, patient_table

CAMERAS = ("camera_a", "camera_b")


def camera_from(args: argparse.Namespace) -> CameraShift:
    names = ("scale", "gamma", "contrast", "noise", "stripes", "blur", "vignette", "background")
    return CameraShift(**{name: getattr(args, name) for name in names}, pattern_seed=args.seed)


def shifted(path: Path, bench_palette: str, palette: str, camera: CameraShift, seed: int):
    """The image's intensity through `camera`, rendered with `palette` (background included,
    at the camera's level)."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise SystemExit(f"cannot read {path}")
    gray = torch.from_numpy(intensity(image, bench_palette).astype(np.float32) / 255)[None]
    out = camera(gray, torch.Generator().manual_seed(seed))[0].numpy()
    level = np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)
    return level if PALETTES[palette] is None else cv2.applyColorMap(level, PALETTES[palette])


def build(bench: Path, out: Path, camera: CameraShift, palette: str | None, seed: int) -> int:
    """Write OUT/camera_a and OUT/camera_b and OUT/manifest.json; returns the image count."""
    manifest = json.loads((bench / "manifest.json").read_text())
    bench_palette = manifest["spec"]["palette"]
    palette = palette or bench_palette
    for name in CAMERAS:
        shutil.rmtree(out / name, ignore_errors=True)
    for index, image in enumerate(manifest["images"]):
        source = bench / image["file"]
        relative = Path(CLASS_DIRS[image["label"]]) / source.name
        for name in CAMERAS:
            (out / name / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, out / "camera_a" / relative)
        rendered = shifted(source, bench_palette, palette, camera, seed * 100_003 + index)
        target = out / "camera_b" / relative
        if not cv2.imwrite(str(target), rendered, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]):
            raise SystemExit(f"cannot write {target}")
    spec = {"bench": str(bench), "camera_b": asdict(camera), "palette_b": palette}
    written = {"spec": spec | {"palette_a": bench_palette, "seed": seed}}
    (out / "manifest.json").write_text(json.dumps(written, indent=1, sort_keys=True))
    return len(manifest["images"])


def baseline(out: Path, seed: int, n_resamples: int = 2000) -> dict[str, object]:
    """The regional |left-right| model fitted on camera A in 5 patient-grouped folds; each
    fold's held-out people scored on A (in-domain) and on B (out-of-domain)."""
    spec = json.loads((out / "manifest.json").read_text())["spec"]
    pids, x_a, y = patient_table(out / "camera_a", spec["palette_a"])
    pids_b, x_b, y_b = patient_table(out / "camera_b", spec["palette_b"])
    if pids_b != pids or not np.array_equal(y, y_b):
        raise SystemExit(f"{out}: camera_a and camera_b hold different patients")
    scores = {"in": np.zeros(len(y)), "out": np.zeros(len(y))}
    model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced"))
    folds = StratifiedGroupKFold(min(5, np.bincount(y).min()), shuffle=True, random_state=seed)
    for fit, held in folds.split(x_a, y, groups=pids):
        model.fit(x_a[fit], y[fit])
        scores["in"][held] = model.predict_proba(x_a[held])[:, 1]
        scores["out"][held] = model.predict_proba(x_b[held])[:, 1]
    settings = BootstrapSettings(n_resamples=n_resamples, seed=seed)
    result: dict[str, object] = {"n_patients": len(y), "n_positive": int(y.sum())}
    for domain, found in scores.items():
        interval = bootstrap_intervals(found, y, pids, 0.5, settings)["auroc"]
        result[domain] = (float(roc_auc_score(y, found)), *interval)
    order = np.argsort(pids)
    sets = {
        domain: PatientSet(np.asarray(pids)[order], y[order], s[order], s[order] > 0.5)
        for domain, s in scores.items()
    }
    drop = paired_difference([(sets["in"], sets["out"])], settings).estimates["auroc"]
    result["drop"] = (drop.value, *drop.ci)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("bench", type=Path, help="a make_benchmark.py folder (its manifest.json)")
    add("out", type=Path)
    add("--palette", choices=sorted(PALETTES), help="camera B's export (default: BENCH's)")
    add("--scale", type=float, default=0.5, help="resolution against camera A's")
    add("--gamma", type=float, default=0.8, help="response curve, intensity ** gamma")
    add("--contrast", type=float, default=0.85, help="gain about the face's mean")
    add("--noise", type=float, default=0.015, help="temporal noise sd (0-1 intensity)")
    add("--stripes", type=float, default=0.01, help="fixed-pattern column offsets sd")
    add("--blur", type=float, default=1.5, help="optics, Gaussian sigma in pixels")
    add("--vignette", type=float, default=0.15, help="how much darker the corners are")
    add("--background", type=float, default=0.02, help="level around the face (0-1)")
    add("--seed", type=int, default=0, help="noise, fixed pattern and baseline folds")
    add("--baseline-only", action="store_true", help="only score the folders in OUT")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    if not args.baseline_only:
        try:
            camera = camera_from(args)
        except ValueError as error:
            raise SystemExit(f"error: {error}") from None
        count = build(args.bench, args.out, camera, args.palette, args.seed)
        print(f"wrote {count} images per camera into {args.out}/{{camera_a,camera_b}}")
    result = baseline(args.out, args.seed)
    print(
        f"baseline |L-R| model, {result['n_patients']} patients ({result['n_positive']} ICAS), "
        "fitted on camera A in 5 folds, held-out patients scored on each camera:"
    )
    for key, name in (("in", "camera A (in-domain)"), ("out", "camera B (out-of-domain)")):
        value, low, high = result[key]  # type: ignore[misc]
        print(f"  {name}: patient AUROC {value:.3f} [{low:.3f}, {high:.3f}]")
    value, low, high = result["drop"]  # type: ignore[misc]
    print(f"  drop (A - B), paired by patient: {value:+.3f} [{low:+.3f}, {high:+.3f}]")
    return result


if __name__ == "__main__":
    main()
