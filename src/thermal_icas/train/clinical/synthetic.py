"""The embedded dataset's clinical table: age, sex, hypertension, diabetes and smoking in
plausible proportions, whose association with ICAS is set by `signal`.

`signal` scales every risk factor's effect (log-odds, or years of age) together: 0 gives
covariates independent of the label (a null table), 1 an association of the size reported for
vascular risk factors (ICAS patients some 5 years older, hypertension odds x 2.5), so the clinical
arms can be compared with the image arms out of the box. A few ages and smoking statuses are
left missing, as in real tables, to exercise the imputation.
"""

from __future__ import annotations

import csv
import json
import os
import uuid
from pathlib import Path

import numpy as np

COLUMNS = ("patient", "age", "sex", "hypertension", "diabetes", "smoking")
# (share among non-ICAS patients, log-odds added per unit of signal for ICAS patients)
BINARY_RISKS = {"male": (0.50, 0.4), "hypertension": (0.45, 0.9), "diabetes": (0.20, 0.6)}
AGE_MEAN, AGE_SD, AGE_SHIFT = 62.0, 9.0, 5.0
SMOKING = ("never", "former", "current")
SMOKING_SHARES = np.array([0.5, 0.3, 0.2])
SMOKING_LOG_ODDS = np.array([0.0, 0.3, 0.6])
MISSING_SHARE = {"age": 0.04, "smoking": 0.06}


def clinical_rows(labels: dict[str, int], signal: float, seed: int) -> list[dict[str, str]]:
    """One row per patient (sorted ids); `labels` maps patient ids to 1 (ICAS) or 0."""
    if signal < 0:
        raise ValueError(f"the clinical signal must be >= 0, got {signal}")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
    rows = []
    for patient in sorted(labels):
        effect = signal * labels[patient]
        binary = {name: _draw(rng, *risk, effect) for name, risk in BINARY_RISKS.items()}
        odds = SMOKING_SHARES * np.exp(SMOKING_LOG_ODDS * effect)
        smoking = SMOKING[int(rng.choice(3, p=odds / odds.sum()))]
        age = float(np.clip(rng.normal(AGE_MEAN + AGE_SHIFT * effect, AGE_SD), 35, 95))
        row = {
            "patient": patient,
            "age": str(round(age)),
            "sex": "M" if binary["male"] else "F",
            "hypertension": str(int(binary["hypertension"])),
            "diabetes": str(int(binary["diabetes"])),
            "smoking": smoking,
        }
        for column, share in MISSING_SHARE.items():
            if rng.random() < share:
                row[column] = ""
        rows.append(row)
    return rows


def _draw(rng: np.random.Generator, share: float, lift: float, effect: float) -> bool:
    """True with the odds of `share`, times exp(lift x effect)."""
    log_odds = np.log(share / (1 - share)) + lift * effect
    return bool(rng.random() < 1 / (1 + np.exp(-log_odds)))


def ensure_clinical_table(dataset_root: Path, signal: float, seed: int = 0) -> Path:
    """`<dataset>-clinical/signal-<signal>-seed-<seed>.csv` beside the dataset (inside it, a
    folder would count as a class), written once from the dataset's manifest (its true labels)
    and moved into place whole."""
    root = Path(dataset_root)
    path = root.parent / f"{root.name}-clinical" / f"signal-{float(signal):g}-seed-{seed}.csv"
    if path.is_file():
        return path
    manifest = json.loads((root / "manifest.json").read_text())
    labels = {image["patient"]: int(image["label"]) for image in manifest["images"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    with tmp.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(clinical_rows(labels, signal, seed))
    os.replace(tmp, path)
    return path
