"""A finished run, loaded for use: its config, classes (positive as the run marked it),
val-chosen threshold and best classifier, with a one-line error for anything that is not a
finished run, another architecture or a damaged checkpoint."""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from thermal_icas.analysis.resolvers import register
from thermal_icas.core import run_files
from thermal_icas.core.data.classes import ClassInfo
from thermal_icas.core.data.preprocess import Preprocessor
from thermal_icas.core.data.reading import Reading
from thermal_icas.core.data.splits import SPLIT_POSITIVE
from thermal_icas.core.data.temperature import DEFAULT_WINDOW
from thermal_icas.core.errors import PretrainedWeightsError
from thermal_icas.core.evaluation import EvalSettings
from thermal_icas.core.explain.maps import CAM_METHODS
from thermal_icas.core.models.encoder import explain_layer
from thermal_icas.core.models.heads import ThermalClassifier
from thermal_icas.core.torch_files import read_checkpoint

register()

log = logging.getLogger(__name__)

# where the `_target_`s a run's config names have lived since the package took its three layers
# (core, train, analysis): a run saved before still loads; the longest old prefix wins
MOVED_TARGETS = {
    "thermal_icas.data.ThermalData": "thermal_icas.train.datamodule.ThermalData",
    "thermal_icas.data.": "thermal_icas.core.data.",
    "thermal_icas.asymmetry.": "thermal_icas.core.asymmetry.",
    "thermal_icas.evaluation.": "thermal_icas.core.evaluation.",
    "thermal_icas.losses.": "thermal_icas.core.losses.",
    "thermal_icas.masks.": "thermal_icas.core.masks.",
    "thermal_icas.models.": "thermal_icas.core.models.",
    "thermal_icas.clinical.": "thermal_icas.train.clinical.",
    "thermal_icas.lit.callbacks.": "thermal_icas.train.callbacks.training.",
    "thermal_icas.lit.": "thermal_icas.train.lit.",
    "thermal_icas.resume.": "thermal_icas.train.resume.",
    "thermal_icas.reporting.callbacks.": "thermal_icas.train.callbacks.outputs.",
    "thermal_icas.reporting.tracking.": "thermal_icas.train.tracking.",
    "thermal_icas.explain.callback.": "thermal_icas.train.callbacks.explanations.",
}


def current_target(target: str) -> str:
    """A `_target_` as this version spells it."""
    for old in sorted(MOVED_TARGETS, key=len, reverse=True):
        if target.startswith(old):
            return MOVED_TARGETS[old] + target[len(old) :]
    return target


def _current_targets(node: object) -> object:
    if isinstance(node, dict):
        return {
            key: current_target(value)
            if key == "_target_" and isinstance(value, str)
            else _current_targets(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_current_targets(value) for value in node]
    return node


def read_run_config(path: Path) -> DictConfig:
    """A run's saved config, interpolations unresolved, its `_target_`s as this version spells
    them."""
    saved = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    cfg = OmegaConf.create(_current_targets(saved))
    assert isinstance(cfg, DictConfig)
    return cfg


@dataclass(frozen=True)
class TrainedRun:
    """A run folder's classifier and everything needed to feed it."""

    directory: Path
    checkpoint: Path
    cfg: DictConfig
    classes: ClassInfo
    threshold: float
    classifier: ThermalClassifier

    @property
    def on_midline(self) -> bool:
        """The asymmetry arms were trained on upright faces centred on their midline."""
        return self.cfg.asymmetry is not None

    def preprocessor(self) -> Preprocessor:
        """The run's own preprocessing (mask, alignment, size, normalisation), for new images."""
        data = self.cfg.data
        return Preprocessor(
            instantiate(self.cfg.mask),
            data.image_size,
            data.mean,
            data.std,
            instantiate(self.cfg.asymmetry),
            self.reading(),
            data.get("normalize", "dataset"),
        )

    def reading(self) -> Reading:
        """How the run read its files (runs older than `data.format` read pictures)."""
        data = self.cfg.data
        return Reading(
            data.get("format", "image"),
            data.get("temperature_window", DEFAULT_WINDOW),
            data.get("counts_to_celsius"),
            data.palette,
            data.palette_max_distance,
        )

    @property
    def patient_reading(self) -> tuple[str, str]:
        """`data.patient_from` and `data.patient_regex`, as the run read patient ids (runs
        older than `data.patient_from` read file names)."""
        return self.cfg.data.get("patient_from", "filename"), self.cfg.data.patient_regex

    def eval_settings(self) -> EvalSettings:
        """How the run evaluated (`eval.*`), for scoring new patients the same way."""
        return instantiate(self.cfg.eval)

    @property
    def explain_spec(self) -> tuple[str, str]:
        """`explain_batch`'s layer and method, as the run was explained (runs older than
        `explain.method` get the current default)."""
        layer = explain_layer(
            self.cfg.explain.get("layer", "auto"),
            self.cfg.data.image_size,
            self.classifier.encoder.trunk.reductions,
        )
        return layer, self.cfg.explain.get("method", CAM_METHODS[0])


def load_run(ckpt_path: str | Path, device: torch.device | str = "cpu") -> TrainedRun:
    """A run folder (its best classifier checkpoint) or a classifier checkpoint inside one."""
    path = Path(ckpt_path).expanduser().resolve()
    if path.is_dir():
        _refuse_clinical(path)
        candidates = run_files.best_checkpoints(path)
        if not candidates:
            wanted = run_files.STAGE_CHECKPOINTS["classifier"] / run_files.BEST_CHECKPOINT_GLOB
            raise PretrainedWeightsError(
                f"ckpt_path '{path}' holds no {wanted}: is it a finished run?"
            )
        directory, checkpoint = path, candidates[-1]
    elif path.is_file():
        # <run>/checkpoints/classifier/<file>; a file elsewhere fails the run check below
        directory, checkpoint = path.parents[min(2, len(path.parents) - 1)], path
        _refuse_clinical(directory)
    else:
        raise PretrainedWeightsError(f"ckpt_path '{path}' does not exist")
    if not (directory / run_files.CONFIG).is_file():
        raise PretrainedWeightsError(
            f"'{directory}' has no {run_files.CONFIG}: point ckpt_path at a run folder or at a "
            "checkpoint inside one"
        )
    if not (directory / run_files.METRICS).is_file():
        raise PretrainedWeightsError(
            f"'{directory}' is not a finished run (no {run_files.METRICS}, whose test/threshold "
            "predictions use): finish it with resume=<run> first"
        )
    cfg = read_run_config(directory / run_files.CONFIG)
    classes = run_classes(directory, cfg)
    metrics = json.loads((directory / run_files.METRICS).read_text())
    classifier = _load_classifier(checkpoint, cfg, len(classes.names)).to(device).eval()
    return TrainedRun(
        directory, checkpoint, cfg, classes, float(metrics["test/threshold"]), classifier
    )


def _refuse_clinical(directory: Path) -> None:
    """A clinical, regional or rule arm's scores need each patient's table, which images alone
    lack."""
    config = directory / run_files.CONFIG
    saved = OmegaConf.load(config) if config.is_file() else OmegaConf.create()
    clinical, features = saved.get("clinical"), saved.get("features")
    if clinical is not None:
        raise PretrainedWeightsError(
            f"'{directory}' is a clinical={clinical.use} run: its scores need each patient's "
            "clinical covariates, which predict.py does not take; use a run without clinical"
        )
    if features is not None or saved.get("rule") is not None:
        arm = "rule" if features is None else f"features=regions ({features.use})"
        raise PretrainedWeightsError(
            f"'{directory}' is a {arm} run: its scores need each patient's regional table, "
            "which predict.py does not build; use an image arm's run"
        )


def run_classes(directory: Path, cfg: DictConfig) -> ClassInfo:
    """The classes the run was trained with, positive as its splits.csv marks it. Runs from
    before that mark chose it by the rule of their time (`icas` exactly, else the last sorted
    name), which is what their threshold and metrics describe."""
    splits = directory / run_files.SPLITS
    with splits.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    names = tuple(sorted({row["label"] for row in rows}))
    marked = {row["label"] for row in rows if row.get(SPLIT_POSITIVE) == "1"}
    if len(marked) == 1:
        return ClassInfo(names, marked.pop())
    positive = cfg.data.positive_class or ("icas" if "icas" in names else names[-1])
    log.warning("%s marks no positive class (an older run): taking '%s'", splits, positive)
    return ClassInfo(names, positive)


def _instead(checkpoint: Path) -> str:
    """The run's other classifier checkpoints, which could serve in a damaged one's place."""
    folder = checkpoint.parent
    last = folder / run_files.LAST_CHECKPOINT
    others = [p for p in sorted(folder.glob(run_files.BEST_CHECKPOINT_GLOB)) if p != checkpoint]
    others += [last] if last.is_file() and last != checkpoint else []
    if not others:
        return "the run has no other classifier checkpoint: train it again"
    listed = ", ".join(p.name for p in others)
    return (
        f"point ckpt_path at another in {folder} ({listed}; {run_files.LAST_CHECKPOINT} is the "
        "last epoch, not the best on val)"
    )


def _load_classifier(checkpoint: Path, cfg: DictConfig, num_classes: int) -> ThermalClassifier:
    """Weights only (no pickled code), into the architecture the run's config describes."""
    saved = read_checkpoint(checkpoint, _instead(checkpoint))
    state = saved.get("state_dict") if isinstance(saved, dict) else None
    if not state or not any(key.startswith("model.") for key in state):
        raise PretrainedWeightsError(f"'{checkpoint}' is not a stage-2 classifier checkpoint")
    try:
        encoder = instantiate(cfg.model.encoder, pretrained="none")
    except InstantiationException as error:
        raise PretrainedWeightsError(
            f"'{checkpoint}': its run's model config does not build with this version "
            f"(an older layout?): {str(error).splitlines()[0]}"
        ) from None
    tta_flip = cfg.model.get("tta_flip", False)
    classifier = ThermalClassifier(encoder, num_classes, cfg.model.dropout, tta_flip=tta_flip)
    weights = {
        key.removeprefix("model."): v for key, v in state.items() if key.startswith("model.")
    }
    try:
        classifier.load_state_dict(weights)
    except RuntimeError as error:
        raise PretrainedWeightsError(
            f"'{checkpoint}' does not fit the architecture in its run's config "
            f"({encoder.arch}): {str(error).splitlines()[0]}"
        ) from None
    return classifier
