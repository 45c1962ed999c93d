"""export.py: the ONNX graph computes what the run's test computes, for every input adapter,
and preprocess.json says how to feed it."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from hydra.utils import instantiate

from tests.conftest import ComposeFn
from tests.test_predict import _trained_run
from thermal_icas.analysis.export import INPUT, export_onnx, export_run, preprocess_spec
from thermal_icas.analysis.inference import predict
from thermal_icas.analysis.trained_run import TrainedRun, load_run
from thermal_icas.core import run_files
from thermal_icas.core.asymmetry import SiameseFusion
from thermal_icas.core.data.classes import ClassInfo
from thermal_icas.core.errors import ConfigError
from thermal_icas.core.models.heads import ThermalClassifier

ROOT = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-4


def _session(model: Path) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])


def _untrained_run(compose_cfg: ComposeFn, tmp_path: Path, *overrides: str) -> TrainedRun:
    """A run of the composed config with fresh weights: what export reads, without training."""
    cfg = compose_cfg(["model.pretrained=none", "data.image_size=32", *overrides])
    torch.manual_seed(0)
    classifier = ThermalClassifier(instantiate(cfg.model.encoder), 2, cfg.model.dropout)
    with torch.no_grad():
        # BatchNorm statistics other than 0 and 1, as after training
        for module in classifier.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    classes = ClassInfo(("icas", "non_icas"), "non_icas")
    checkpoint = tmp_path / "best.ckpt"
    return TrainedRun(tmp_path, checkpoint, cfg, classes, 0.42, classifier.eval())


@pytest.mark.parametrize(
    ("overrides", "first_conv_channels"),
    [
        ((), 3),
        (("asymmetry=on", "asymmetry.fusion=early", "asymmetry.align=translate"), 6),
        (("asymmetry=on", "attention=on"), 3),
    ],
    ids=["plain", "early_fusion", "siamese"],
)
def test_onnxruntime_gives_the_classifiers_probabilities_at_any_batch_size(
    compose_cfg: ComposeFn,
    tmp_path: Path,
    overrides: tuple[str, ...],
    first_conv_channels: int,
) -> None:
    run = _untrained_run(compose_cfg, tmp_path, *overrides)
    assert run.classifier.encoder.trunk["stem"][0].in_channels == first_conv_channels
    model = export_run(run, tmp_path / "export")
    spec = json.loads((tmp_path / "export" / run_files.ONNX_PREPROCESS).read_text())

    faces = torch.randn(5, 3, 32, 32)  # another batch size than the exporter's example
    with torch.inference_mode():
        expected = run.classifier(faces).softmax(-1).numpy()
    (probabilities,) = _session(model).run(None, {spec["input"]["name"]: faces.numpy()})
    assert probabilities.shape == (5, 2)
    assert np.abs(probabilities - expected).max() < TOLERANCE
    # the faces differ, so must their scores: a graph that ignored its input would not
    assert np.ptp(probabilities[:, spec["positive_index"]]) > 1e-3

    assert spec["input"]["shape"] == ["batch", 3, 32, 32]
    assert spec["positive_index"] == 1 and spec["positive_class"] == "non_icas"
    assert spec["threshold"] == 0.42
    assert spec["normalisation"]["mean"] == list(run.cfg.data.mean)
    asymmetry = spec["asymmetry"]
    if run.cfg.asymmetry is None:
        assert asymmetry is None
    else:
        assert asymmetry["fusion"] == run.cfg.asymmetry.fusion
        assert asymmetry["align"] == run.cfg.asymmetry.align
        assert asymmetry["align_on_midline"] is True


def test_the_preprocessing_is_the_runs_own(compose_cfg: ComposeFn, tmp_path: Path) -> None:
    overrides = ("mask=ellipse", "mask.background_value=-1.0", "asymmetry=on")
    run = _untrained_run(compose_cfg, tmp_path, *overrides, "asymmetry.fusion=none")
    preprocessor = run.preprocessor()
    spec = preprocess_spec(run, preprocessor)
    assert spec["mask"]["method"]["_target_"] == "thermal_icas.core.masks.EllipseMask"
    # -1 after normalisation
    mean, std = np.array(run.cfg.data.mean), np.array(run.cfg.data.std)
    assert spec["mask"]["background_rgb"] == pytest.approx((mean - std).tolist())
    assert spec["palette"]["palette"] == "none"
    assert not any("palette" in step for step in spec["steps"])
    assert any("midline" in step for step in spec["steps"])
    assert spec["asymmetry"]["fusion"] == "none"


def test_a_graph_that_fixes_the_batch_size_is_refused(
    compose_cfg: ComposeFn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def chunked(self: SiameseFusion, pooled: torch.Tensor) -> torch.Tensor:
        left, right = pooled.chunk(2)  # the exporter ties the batch size to the example's
        return torch.cat([(left + right) / 2, (left - right).abs()], dim=1)

    monkeypatch.setattr(SiameseFusion, "combine", chunked)
    run = _untrained_run(compose_cfg, tmp_path, "asymmetry=on")
    with pytest.raises(RuntimeError, match="fixed the batch size at 2"):
        export_onnx(run.classifier, 32, tmp_path / "model.onnx")


def test_another_format_is_refused(compose_cfg: ComposeFn, tmp_path: Path) -> None:
    run = _untrained_run(compose_cfg, tmp_path)
    with pytest.raises(ConfigError, match="format='torchscript' is not supported"):
        export_run(run, tmp_path / "export", "torchscript")
    assert not (tmp_path / "export").exists()


@pytest.mark.slow
def test_the_exported_run_predicts_what_the_run_predicts(
    compose_cfg: ComposeFn, tmp_path: Path
) -> None:
    out = _trained_run(compose_cfg, tmp_path, "asymmetry=on")
    command = [sys.executable, str(ROOT / "export.py"), f"ckpt_path={out}"]
    result = subprocess.run(
        [*command, f"hydra.run.dir={tmp_path / 'e'}"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    refused = subprocess.run(
        [*command, "format=tflite", f"hydra.run.dir={tmp_path / 'f'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        "error: format='tflite' is not supported; choose from ['onnx']"
    ]

    spec = json.loads((tmp_path / "e" / run_files.ONNX_PREPROCESS).read_text())
    trained = load_run(out)
    assert spec["threshold"] == trained.threshold
    assert spec["source"]["checkpoint"] == str(trained.checkpoint)
    few = tmp_path / "few"
    few.mkdir()
    images = [
        Path(shutil.copy(path, few)) for path in sorted((tmp_path / "toy").rglob("*.png"))[::9]
    ]
    predict(trained, few, tmp_path / "pred")
    with (tmp_path / "pred" / run_files.PREDICTIONS).open() as handle:
        predicted = {row["path"]: float(row["prob_positive"]) for row in csv.DictReader(handle)}
    preprocessor = trained.preprocessor()
    processed = preprocessor([str(path) for path in images])
    faces = torch.stack([preprocessor.eval_transform()(image) for image in processed.images])
    (probabilities,) = _session(tmp_path / "e" / run_files.ONNX_MODEL).run(
        None, {INPUT: faces.numpy()}
    )
    scores = probabilities[:, spec["positive_index"]]
    expected = [predicted[str(path)] for path in images]
    assert scores == pytest.approx(expected, abs=TOLERANCE)
