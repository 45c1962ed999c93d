"""A Hydra sweep's jobs as the summary reads them: overrides, metrics, test patients, run info,
and why a job failed; jobs that differ only in replicate keys are grouped into one arm."""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from thermal_icas.core import run_files
from thermal_icas.core.evaluation.patients import Scores, read_patients

# what repeats a measurement rather than defining an arm
REPLICATE_KEYS = ("seed", "data.fold", "data.split_seed")
# what a replicate's folds share: the folds of one seed are pooled into one set of patients
FOLD_KEY = "data.fold"

Settings = dict[str, str | None]
Replicate = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Job:
    """One job folder; `metrics` is None when it did not finish, and `reason` then says why."""

    path: str
    overrides: dict[str, str]
    metrics: dict[str, float] | None
    reason: str
    patients: tuple[Scores, np.ndarray] | None
    run_info: dict[str, object]
    split_patients: dict[str, int] | None = None

    @property
    def test_train_ratio(self) -> float | None:
        """Test over training patients (val excluded), from splits.csv: how much two jobs'
        training sets overlap, which the corrected resampled t needs."""
        sizes = self.split_patients or {}
        if not sizes.get("train") or not sizes.get("test"):
            return None
        return sizes["test"] / sizes["train"]

    @property
    def replicate(self) -> Replicate:
        return tuple((key, self.overrides[key]) for key in REPLICATE_KEYS if key in self.overrides)

    @property
    def repeat(self) -> Replicate:
        """The replicate less its fold: the folds of one repeat cover its patients once."""
        return tuple(item for item in self.replicate if item[0] != FOLD_KEY)


@dataclass(frozen=True)
class Arm:
    """One setting of the swept overrides, with every replicate that ran it."""

    settings: Settings
    jobs: tuple[Job, ...]


@dataclass(frozen=True)
class FailedRun:
    """A job that left no metrics: where it is, and the first line of why."""

    job: str
    arm: str
    replicate: str
    reason: str


def label_of(replicate: Replicate) -> str:
    """`seed=1 data.fold=0`; `-` for a sweep that sets no replicate key."""
    return " ".join(f"{key}={value}" for key, value in replicate) or "-"


def split_override(item: str) -> tuple[str, str]:
    """`+key=value` and `++key=value` name the same setting as `key=value`."""
    key, _, value = item.partition("=")
    return key.lstrip("+"), value


def _natural_key(path: str) -> list[int | str]:
    """Job 10 after job 9, so arms keep the order in which the sweep was written."""
    return [int(part) if index % 2 else part for index, part in enumerate(re.split(r"(\d+)", path))]


def load_jobs(root: Path, view: str = "") -> list[Job]:
    """Every job folder under `root` (one holding .hydra/overrides.yaml), in sweep order;
    with `view` (a sub-folder of each job, `shift`), the metrics and test patients found
    there."""
    if not root.is_dir():
        raise FileNotFoundError(f"multirun folder '{root}' does not exist or is not a folder")
    override_files = [
        p for p in root.rglob(run_files.OVERRIDES.name) if p.parent.name == run_files.HYDRA_DIR.name
    ]
    if not override_files:
        raise FileNotFoundError(f"no Hydra jobs ({run_files.OVERRIDES}) under '{root}'")
    _refuse_search(root, override_files[0].parent.parent)
    jobs = []
    for override_file in override_files:
        job_dir = override_file.parent.parent
        metrics = _read_metrics(job_dir / view / run_files.METRICS)
        patients_file = job_dir / view / run_files.TEST_PATIENTS
        jobs.append(
            Job(
                path=job_dir.relative_to(root).as_posix(),
                overrides=_read_overrides(override_file),
                metrics=metrics,
                reason="" if metrics is not None else _failure_reason(job_dir, view),
                patients=read_patients(patients_file)
                if metrics is not None and patients_file.is_file()
                else None,
                run_info=_read_json(job_dir / run_files.RUN_INFO) or {},
                split_patients=_split_patients(job_dir / run_files.SPLITS),
            )
        )
    return sorted(jobs, key=lambda job: _natural_key(job.path))


def _refuse_search(root: Path, job_dir: Path) -> None:
    """An Optuna search picks each trial from the val scores of those before: its trials are
    no arms of a comparison, and their test scores must not choose between them."""
    path = job_dir / run_files.HYDRA_CONFIG
    hydra = (yaml.safe_load(path.read_text()) or {}).get("hydra", {}) if path.is_file() else {}
    if "optuna" in str((hydra.get("sweeper") or {}).get("_target_", "")).lower():
        raise ValueError(
            f"'{root}' is an Optuna search, not a comparison of arms: its best settings by "
            f"val/patient/auroc are in {run_files.SEARCH_RESULTS} (written as it ends); test "
            "them in a fresh run or an experiment=cv sweep"
        )


def _read_overrides(path: Path) -> dict[str, str]:
    try:
        items = yaml.safe_load(path.read_text()) or []
    except yaml.YAMLError as error:
        raise ValueError(f"'{path}' is not valid YAML: {error}") from error
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ValueError(f"'{path}' should be a YAML list of key=value strings")
    return dict(split_override(item) for item in items)


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
    return raw if isinstance(raw, dict) else None


def _split_patients(path: Path) -> dict[str, int] | None:
    """Distinct patients per split in a job's splits.csv; None without a readable one."""
    if not path.is_file():
        return None
    try:
        with path.open(newline="") as handle:
            rows = [(row["patient"], row["split"]) for row in csv.DictReader(handle)]
    except (KeyError, csv.Error, UnicodeDecodeError):
        return None
    counts: dict[str, int] = {}
    for _, split in set(rows):
        counts[split] = counts.get(split, 0) + 1
    return counts


def _read_metrics(path: Path) -> dict[str, float] | None:
    """Only finite numbers count: a NaN AUROC (single-class test set) is a missing value."""
    raw = _read_json(path)
    if raw is None:
        return None
    return {
        key: float(value)
        for key, value in raw.items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def _failure_reason(job_dir: Path, view: str = "") -> str:
    if view and (job_dir / run_files.METRICS).is_file():
        if not (job_dir / view / run_files.METRICS).is_file():
            return f"finished, but has no {view}/{run_files.METRICS} (was eval.shift_dir set?)"
        job_dir = job_dir / view
    if (job_dir / run_files.METRICS).is_file():
        return f"{run_files.METRICS} is not a readable JSON object"
    error = job_dir / run_files.FAILURE
    if not error.is_file():
        return f"no {run_files.METRICS} and no {run_files.FAILURE}"
    lines = error.read_text(errors="replace").strip().splitlines()
    return lines[0].strip() if lines else f"{run_files.FAILURE} is empty"


def split_keys(jobs: Sequence[Job]) -> tuple[dict[str, str], list[str]]:
    """Common: set to one value in every job. Varying: the rest, minus the replicate keys."""
    keys = sorted({key for job in jobs for key in job.overrides} - set(REPLICATE_KEYS))
    common = {}
    varying = []
    for key in keys:
        values = {job.overrides.get(key) for job in jobs}
        if len(values) == 1 and None not in values:
            common[key] = values.pop()
        else:
            varying.append(key)
    return common, varying


def group_arms(jobs: Sequence[Job], varying: Sequence[str]) -> dict[str, Arm]:
    """Arms by label, in the order of their first job."""
    by_arm: dict[str, list[Job]] = {}
    settings: dict[str, Settings] = {}
    for job in jobs:
        arm_settings = {key: job.overrides.get(key) for key in varying}
        label = _arm_label(arm_settings)
        by_arm.setdefault(label, []).append(job)
        settings[label] = arm_settings
    _check_unique_replicates(by_arm)
    return {label: Arm(settings[label], tuple(arm_jobs)) for label, arm_jobs in by_arm.items()}


def _arm_label(settings: Settings) -> str:
    if not settings:
        return "all"
    parts = [f"{key}={value}" for key, value in settings.items() if value is not None]
    return " ".join(parts) or "(no overrides)"


def _check_unique_replicates(by_arm: Mapping[str, Sequence[Job]]) -> None:
    """Pairing by replicate is meaningless if one arm ran the same replicate twice."""
    for label, jobs in by_arm.items():
        seen: dict[Replicate, str] = {}
        for job in jobs:
            first = seen.setdefault(job.replicate, job.path)
            if first != job.path:
                raise ValueError(
                    f"jobs '{first}' and '{job.path}' are the same replicate of arm '{label}'"
                )


def failed_runs(arms: Mapping[str, Arm]) -> list[FailedRun]:
    """Arm by arm, so the report lists a failure next to the arm it is missing from."""
    return [
        FailedRun(job.path, label, label_of(job.replicate), job.reason)
        for label, arm in arms.items()
        for job in arm.jobs
        if job.metrics is None
    ]


def thread_counts(jobs: Sequence[Job]) -> list[int]:
    """The torch thread counts the finished jobs ran with (metrics, else run_info.json)."""
    found = set()
    for job in jobs:
        if job.metrics is None:
            continue
        value = job.metrics.get("run/threads", job.run_info.get("threads"))
        if isinstance(value, int | float):
            found.add(int(value))
    return sorted(found)
