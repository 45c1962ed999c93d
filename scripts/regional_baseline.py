"""The hand-made regional |left-right| baseline of a benchmark folder (`make_benchmark.py`), the
model every network here has to beat: per image, the mean left-minus-mirrored-right difference
of the forehead, periorbital and upper-cheek skin, averaged per patient, in a class-weighted
logistic regression; patient-level AUROC with a 95% interval from a bootstrap over patients.

    python scripts/regional_baseline.py OUT [--seed N]
"""

from __future__ import annotations

import argparse
import functools
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from thermal_icas.core.data.classes import resolve_classes
from thermal_icas.core.data.records import find_class_dirs, scan_folder
from thermal_icas.core.evaluation.bootstrap import BootstrapSettings
from thermal_icas.core.evaluation.stats import bootstrap_intervals

FACE_THRESHOLD = 10  # grey levels: above JPEG noise on black, far below skin
PALETTES = {"inferno": cv2.COLORMAP_INFERNO, "gray": None}
PATIENT_REGEX = "^([^_-]+)"  # the project's default data.patient_regex
# Baseline regions (u0, u1, v0, v1): distance from the midline as a share of the bbox width,
# rows as a share of its height from the top; each is compared with its mirror image.
REGIONS = {"forehead": (0.05, 0.30, 0.10, 0.25), "periorbital": (0.05, 0.35, 0.25, 0.42)}
REGIONS["upper_cheek"] = (0.10, 0.38, 0.42, 0.58)


def largest_component(binary: np.ndarray) -> np.ndarray:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), 8)
    if count < 2:
        raise SystemExit("no face found: the image is black")
    return labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))


def bbox(mask: np.ndarray) -> tuple[float, float, float, float]:
    """(midline x, top y, width, height) of the mask's bounding box."""
    ys, xs = np.nonzero(mask)
    return (xs.min() + xs.max()) / 2, float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)


@functools.cache
def inverse_palette(palette: str) -> np.ndarray:
    """Grey level whose palette colour is nearest to each BGR colour, at 6 bits per channel."""
    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[None], PALETTES[palette])[0]
    lut = lut.astype(np.float32)  # nearest by |c - l|^2 = |c|^2 - 2 c.l + |l|^2, |c|^2 aside
    centres = np.stack(np.meshgrid(*[np.arange(64) * 4 + 1.5] * 3, indexing="ij"), -1)
    centres = centres.reshape(-1, 3).astype(np.float32)
    table = np.empty(len(centres), np.uint8)
    for i in range(0, len(centres), 1 << 15):
        block = centres[i : i + (1 << 15)]
        table[i : i + len(block)] = np.argmin((lut**2).sum(1) - 2 * block @ lut.T, axis=1)
    return table


def intensity(image: np.ndarray, palette: str) -> np.ndarray:
    """Undo the palette, so the baseline reads the temperature proxy the cooling changed."""
    if image.ndim == 2 or PALETTES[palette] is None:
        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    q = (image >> 2).astype(np.int32)
    return inverse_palette(palette)[(q[..., 0] << 12) | (q[..., 1] << 6) | q[..., 2]]


def asymmetry_features(gray: np.ndarray) -> np.ndarray:
    """|mean(left - mirrored right)| of each region, over pixel pairs on the face on both sides."""
    mask = largest_component(gray > FACE_THRESHOLD)
    mid, top, width, height = bbox(mask)
    features = []
    for u0, u1, v0, v1 in REGIONS.values():
        rows = np.arange(round(top + v0 * height), round(top + v1 * height))[:, None]
        offsets = np.arange(round(u0 * width), round(u1 * width))
        left = np.clip(np.round(mid - offsets).astype(int), 0, gray.shape[1] - 1)
        right = np.clip(np.round(mid + offsets).astype(int), 0, gray.shape[1] - 1)
        valid = mask[rows, left] & mask[rows, right]
        diff = gray[rows, left].astype(float) - gray[rows, right]
        features.append(abs(diff[valid].mean()) if valid.any() else 0.0)
    return np.array(features)


@dataclass(frozen=True)
class BaselineResult:
    auroc: float
    interval: tuple[float, float]
    n_patients: int
    n_positive: int
    mode: str  # "test" (fit on train, score test) or "cv" (out-of-fold scores pooled)


def patient_table(folder: Path, palette: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Patients as the project reads them (default regex), features averaged per patient."""
    classes = resolve_classes(find_class_dirs(folder), None, str(folder))
    per_patient: dict[str, list[np.ndarray]] = {}
    label: dict[str, int] = {}
    for record in scan_folder(folder, classes, PATIENT_REGEX):
        gray = intensity(cv2.imread(record.path, cv2.IMREAD_UNCHANGED), palette)
        per_patient.setdefault(record.patient, []).append(asymmetry_features(gray))
        label[record.patient] = int(record.label == classes.positive_index)
    pids = sorted(per_patient)
    features = np.array([np.mean(per_patient[p], axis=0) for p in pids])
    return pids, features, np.array([label[p] for p in pids])


def baseline(out: Path, seed: int | None = None, n_resamples: int = 2000) -> BaselineResult:
    """Patient-level AUROC of a hand-crafted left/right model, 95% interval from a bootstrap
    over patients: a class-weighted logistic regression on the standardised per-patient mean
    of `asymmetry_features`, fitted on OUT/train and scored on OUT/test, or, without a test
    folder, 5-fold patient-grouped stratified cross-validation with out-of-fold scores pooled.
    The palette and the seed default to the manifest's."""
    if not (out / "train").is_dir():
        raise SystemExit(f"{out} holds no train/ folder: build it with make_benchmark.py first")
    manifest = out / "manifest.json"
    spec = json.loads(manifest.read_text())["spec"] if manifest.is_file() else {}
    palette, seed = spec.get("palette", "inferno"), spec.get("seed", 0) if seed is None else seed
    model = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced"))
    pids, x, y = patient_table(out / "train", palette)
    if (out / "test").is_dir():
        mode = "test"
        model.fit(x, y)
        pids, x, y = patient_table(out / "test", palette)
        scores = model.predict_proba(x)[:, 1]
    else:
        mode, scores = "cv", np.zeros(len(y))
        folds = StratifiedGroupKFold(min(5, np.bincount(y).min()), shuffle=True, random_state=seed)
        for fit, held in folds.split(x, y, groups=pids):
            scores[held] = model.fit(x[fit], y[fit]).predict_proba(x[held])[:, 1]
    settings = BootstrapSettings(n_resamples=n_resamples, seed=seed)
    interval = bootstrap_intervals(scores, y, pids, 0.5, settings)["auroc"]
    return BaselineResult(float(roc_auc_score(y, scores)), interval, len(y), int(y.sum()), mode)


def print_result(result: BaselineResult, seconds: float | None = None) -> None:
    """The result for a reader, then, last, for a script: `baseline_auroc= ci_low= ci_high=`."""
    where = "test patients" if result.mode == "test" else "patients, 5-fold CV pooled"
    low, high = result.interval
    print(f"baseline |L-R| model, {result.n_patients} {where} ({result.n_positive} ICAS):")
    print(f"patient AUROC {result.auroc:.3f} [{low:.3f}, {high:.3f}] (95%, patient bootstrap)")
    if seconds is not None:
        print(f"baseline_seconds={seconds:.1f}")
    print(f"baseline_auroc={result.auroc:.4f} ci_low={low:.4f} ci_high={high:.4f}")


def main(argv: list[str] | None = None) -> BaselineResult:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="a make_benchmark.py folder")
    parser.add_argument("--seed", type=int, help="CV folds and bootstrap (default: the manifest's)")
    args = parser.parse_args(argv)
    result = baseline(args.out, seed=args.seed)
    print_result(result)
    return result


if __name__ == "__main__":
    main()
