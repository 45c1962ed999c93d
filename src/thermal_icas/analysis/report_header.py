"""The top of report.html: when the run finished, what it warned about, what ran (the
levers) and on which data (counts per split and class, and which class is positive); with the
readers of a run's files that every section uses."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from typing import Any

import yaml

from thermal_icas.analysis.page import Block, Box, Heading, Note, Table
from thermal_icas.core import run_files
from thermal_icas.core.data.confound import ALARM_LOW, LISTED
from thermal_icas.core.data.splits import SPLIT_POSITIVE, SPLITS

COUNTED = ("images", "patients")
# log lines the top of the report repeats, and how many at most
WARNING_LEVELS = ("][WARNING] - ", "][ERROR] - ")
SHOWN_WARNINGS = 20


def header(run_dir: Path, cfg: Mapping, metrics: Mapping[str, float] | None) -> list[Block]:
    """The finish time, the run's warnings, its settings, its data and how it was captured."""
    body = [_finished(run_dir), *_warnings(run_dir)]
    body += [*_settings(run_dir, cfg), *_data(run_dir / run_files.SPLITS)]
    return body + _acquisition(run_dir / run_files.ACQUISITION, metrics or {})


def read(path: Path) -> Any:
    """A run's JSON or YAML file, None when it is missing; an unreadable one names itself."""
    if not path.is_file():
        return None
    content = path.read_text()
    try:
        return json.loads(content) if path.suffix == ".json" else yaml.safe_load(content)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"{path} cannot be read: {error}") from error


def read_csv(path: Path, columns: Sequence[str]) -> list[dict[str, str]] | None:
    if not path.is_file():
        return None
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path} lacks the column(s) {', '.join(missing)}")
        return list(reader)


def _finished(run_dir: Path) -> Block:
    metrics = run_dir / run_files.METRICS
    if not metrics.is_file():
        return Note("No metrics.json: the run has not finished.")
    when = datetime.fromtimestamp(metrics.stat().st_mtime, tz=timezone.utc)
    return f"Finished {when:%Y-%m-%d %H:%M} UTC (metrics.json written)."


def _warnings(run_dir: Path) -> list[Block]:
    """Every distinct warning of the run's log, first: a leak, a class too small for its
    interval or a shortcut alarm changes how the numbers below may be read."""
    logs = sorted(run_dir.glob(run_files.JOB_LOG_GLOB))
    if not logs:
        return [Note("No job log: the run's warnings are not shown.")]
    found: dict[str, None] = {}
    for line in chain.from_iterable(path.read_text(errors="replace").splitlines() for path in logs):
        for level in WARNING_LEVELS:
            if level in line:
                found[line.split(level, 1)[1].strip()] = None
    if not found:
        return ["The run logged no warning."]
    shown = list(found)[:SHOWN_WARNINGS]
    out = [Heading(2, f"Warnings ({len(found)})"), *(Box("alarm", w) for w in shown)]
    if len(found) > SHOWN_WARNINGS:
        out.append(Note(f"... and {len(found) - SHOWN_WARNINGS} more in the job log."))
    return out


def _settings(run_dir: Path, cfg: Mapping) -> list[Block]:
    out = [Heading(2, "Settings")]
    overrides = read(run_dir / run_files.OVERRIDES)
    if overrides is None:
        out.append(Note(f"{run_files.OVERRIDES} is missing: overrides not shown."))
    else:
        listed = " ".join(f"`{item}`" for item in overrides) or "none (the defaults)"
        out.append(f"Overrides: {listed}")
    if not cfg:
        return [*out, Note(f"{run_files.CONFIG} is missing: settings not shown.")]
    return [*out, Table(("lever", "setting"), _levers(cfg))]


def _name(node: object) -> str:
    """A config node by its class: `thermal_icas.core.masks.NoMask` -> `NoMask`."""
    return str(node.get("_target_", "?")).rsplit(".", 1)[-1] if isinstance(node, Mapping) else "?"


def _lever(node: object, *keys: str) -> str:
    """An optional group: `off` when null, else `on` with the keys that tell its options apart."""
    if not isinstance(node, Mapping):
        return "off"
    return ", ".join(["on", *(f"{key} {node.get(key)}" for key in keys)])


def _levers(cfg: Mapping) -> list[tuple[str, str]]:
    mask, data = cfg.get("mask") or {}, cfg.get("data") or {}
    model, training = cfg.get("model") or {}, cfg.get("training") or {}
    finetune, stage1 = training.get("finetune") or {}, training.get("contrastive") or {}
    skip = training.get("skip_contrastive")
    first = "skipped" if skip else f"{stage1.get('epochs')} epochs"
    mode, epochs = finetune.get("mode"), finetune.get("epochs")
    return [
        ("data", str(data.get("data_dir") or "embedded synthetic dataset")),
        ("mask", f"{_name(mask.get('method'))}, background {mask.get('background_value')}"),
        ("attention", _lever(cfg.get("attention"), "layer")),
        ("asymmetry", _lever(cfg.get("asymmetry"), "fusion", "align")),
        ("clinical", _clinical(cfg.get("clinical"), data)),
        ("features", _lever(cfg.get("features"), "use", "model")),
        ("rule", _lever(cfg.get("rule"), "region", "threshold_celsius")),
        ("training", f"stage 1: {first}; fine-tuning ({mode}): {epochs} epochs"),
        ("loss", "not used (stage 1 skipped)" if skip else _name(cfg.get("loss"))),
        ("model", f"{model.get('backbone')}, pretrained {model.get('pretrained')}"),
        ("image size", f"{data.get('image_size')} px"),
        ("format", _format(data)),
        ("palette", str(data.get("palette"))),
        ("seed", str(cfg.get("seed"))),
    ]


def _format(data: Mapping) -> str:
    """What the files held and, for temperatures, the window the model saw them through."""
    found = str(data.get("format", "image"))
    if found == "image":
        return found
    low, high = data.get("temperature_window") or (None, None)
    return f"{found}, window {low}-{high} deg C"


def _clinical(node: object, data: Mapping) -> str:
    if not isinstance(node, Mapping):
        return "off"
    table = data.get("clinical_csv") or f"embedded table, signal {node.get('synthetic_signal')}"
    model = f", {node.get('model')}" if node.get("use") == "only" else ""
    return f"{node.get('use')}{model} ({table})"


def _data(path: Path) -> list[Block]:
    out = [Heading(2, "Data")]
    rows = read_csv(path, ("patient", "label", "split"))
    if rows is None:
        return [*out, Note(f"{path.name} is missing: data counts not shown.")]
    classes = sorted({row["label"] for row in rows})
    found = {row["split"] for row in rows}
    splits = [s for s in SPLITS if s in found] + sorted(found - set(SPLITS))
    images = Counter((row["split"], row["label"]) for row in rows)
    patients = {(row["split"], row["label"], row["patient"]) for row in rows}
    per_patient = Counter((split, label) for split, label, _ in patients)
    header = ["split"] + [f"{n} {what}" for n in (*classes, "all") for what in COUNTED]
    table = []
    for split in splits:
        counts = [(images[split, name], per_patient[split, name]) for name in classes]
        table.append([split, *chain(*counts, map(sum, zip(*counts, strict=True)))])
    positive = {row["label"] for row in rows if row.get(SPLIT_POSITIVE) == "1"}
    named = f"'{positive.pop()}'" if len(positive) == 1 else "not recorded (an older run)"
    said = f"Positive (ICAS) class: {named}; sensitivity, thresholds and scores refer to it."
    return [*out, Table(header, table), Note(said)]


def _acquisition(path: Path, metrics: Mapping[str, float]) -> list[Block]:
    """The label from the capture properties alone, and the properties that differ most."""
    out = [Heading(3, "How the images were captured, by class")]
    key = "data/acquisition_auroc"
    rows = read_csv(path, ("property", "auroc"))
    if rows is None or key not in metrics:
        return [*out, Note(f"No {path.name}: the run predates the acquisition audit.")]
    low, high = metrics[f"{key}_ci_low"], metrics[f"{key}_ci_high"]
    out.append(
        "A patient-level model on size, format, JPEG quality, camera, palette, background "
        f"and face share alone predicts the label with AUROC {metrics[key]:.3f} [{low:.3f}, "
        f"{high:.3f}] (cross-validated; 0.5: the classes were captured alike)."
    )
    if low > ALARM_LOW:
        alarm = "ACQUISITION ALARM: the classes differ in how they were captured, so a model "
        out.append(Box("alarm", alarm + "can score the camera, not the face."))
    header = list(rows[0]) if rows else ["property", "auroc"]
    return [*out, Table(header, [list(row.values()) for row in rows[:LISTED]])]
