"""A trained run's classifier as a file other runtimes load: `model.onnx` and the
`preprocess.json` that says how to make its input.

The graph starts where the run's test starts, at the normalised whole face (the asymmetry
arms' split into halves and their fusion are part of it), and ends with the class
probabilities the test thresholds. What comes before (decoding, palette, mask, alignment on
the midline, resizing) is described, taken from the run's own config and `Preprocessor`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import onnx
import torch
from omegaconf import OmegaConf
from torch import Tensor, nn

from thermal_icas.analysis.trained_run import TrainedRun
from thermal_icas.core import run_files
from thermal_icas.core.data.preprocess import Preprocessor
from thermal_icas.core.data.reading import Reading
from thermal_icas.core.errors import ConfigError
from thermal_icas.core.models.heads import ThermalClassifier

log = logging.getLogger(__name__)

FORMATS = ("onnx",)
INPUT = "image"
OUTPUT = "probabilities"
BATCH = "batch"


class Probabilities(nn.Module):
    """The classifier followed by the softmax over its classes, as the run's test applies it."""

    def __init__(self, classifier: ThermalClassifier) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, image: Tensor) -> Tensor:
        return self.classifier(image).float().softmax(-1)


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ConfigError(f"format='{fmt}' is not supported; choose from {list(FORMATS)}")


def export_run(run: TrainedRun, output_dir: Path, fmt: str = "onnx") -> Path:
    """Writes model.onnx and preprocess.json into output_dir; returns the model's path."""
    check_format(fmt)
    output_dir.mkdir(parents=True, exist_ok=True)
    preprocessor = run.preprocessor()
    target = output_dir / run_files.ONNX_MODEL
    export_onnx(run.classifier, preprocessor.image_size, target)
    spec = preprocess_spec(run, preprocessor)
    (output_dir / run_files.ONNX_PREPROCESS).write_text(json.dumps(spec, indent=2) + "\n")
    log.info("Exported %s to %s", run.checkpoint, target)
    return target


def export_onnx(classifier: ThermalClassifier, image_size: int, target: Path) -> None:
    """The classifier in eval mode, any batch size, one self-contained file, checked.

    With torch.export's exporter (`dynamo=True`, torch's default since 2.9; the TorchScript
    one warns that it is deprecated and will go). Where the graph's arithmetic ties the batch
    size (as `chunk(2)` in the siamese adapter once did), it fixes it without an error; such a
    file is refused."""
    model = Probabilities(classifier).to("cpu").eval()
    # a batch of 1 would be taken for a constant
    example = torch.zeros(2, 3, image_size, image_size)
    program = torch.onnx.export(
        model,
        (example,),
        input_names=[INPUT],
        output_names=[OUTPUT],
        dynamic_shapes=({0: torch.export.Dim(BATCH)},),
        dynamo=True,
        external_data=False,
        verbose=False,
    )
    assert program is not None
    program.save(str(target))
    graph = onnx.load(str(target))
    onnx.checker.check_model(graph, full_check=True)
    batch = graph.graph.input[0].type.tensor_type.shape.dim[0]
    if not batch.dim_param:
        raise RuntimeError(f"'{target}': the exporter fixed the batch size at {batch.dim_value}")


def preprocess_spec(run: TrainedRun, preprocessor: Preprocessor) -> dict[str, Any]:
    """What a user needs to turn an image file into the model's input and read its output."""
    cfg, size, classes = run.cfg, preprocessor.image_size, run.classes
    asymmetry = cfg.asymmetry
    return {
        "input": {
            "name": INPUT,
            "shape": [BATCH, 3, size, size],
            "dtype": "float32",
            "layout": "NCHW, RGB",
        },
        "image_size": size,
        "channels": 3,
        "steps": _steps(preprocessor),
        "mask": {
            **OmegaConf.to_container(cfg.mask, resolve=True),
            "background_rgb": preprocessor.background().tolist(),
        },
        "reading": _reading(preprocessor.reading),
        "palette": {
            "palette": cfg.data.palette,
            "max_distance": cfg.data.palette_max_distance,
        },
        "asymmetry": None
        if asymmetry is None
        else {
            "align_on_midline": preprocessor.on_midline,
            "fusion": asymmetry.fusion,
            "align": asymmetry.align,
            "note": "the model splits the face at its centre column itself: feed the whole face",
        },
        "normalisation": {"mean": list(preprocessor.mean), "std": list(preprocessor.std)},
        "classes": list(classes.names),
        "positive_class": classes.positive,
        "positive_index": classes.positive_index,
        "threshold": run.threshold,
        "output": {
            "name": OUTPUT,
            "shape": [BATCH, len(classes.names)],
            "meaning": "softmax over the classes (the run's test probabilities); "
            "probabilities[:, positive_index] > threshold is a positive screen",
        },
        "threshold_source": "the run's test/threshold, chosen on its val images (Youden's J)",
        "source": {"run_dir": str(run.directory), "checkpoint": str(run.checkpoint)},
    }


def _reading(reading: Reading) -> dict[str, Any]:
    """What the files hold and, for temperatures, the window the model saw them through."""
    if not reading.temperature:
        return {"format": reading.format}
    scale = reading.reader.counts_to_celsius if reading.reader is not None else None
    return {
        "format": reading.format,
        "temperature_window_celsius": [reading.window.low, reading.window.high],
        "counts_to_celsius": None if scale is None else list(scale),
    }


def _steps(preprocessor: Preprocessor) -> list[str]:
    """The run's preprocessing in order, as `Preprocessor` applies it."""
    size, reading = preprocessor.image_size, preprocessor.reading
    if reading.temperature:
        low, high = reading.window.low, reading.window.high
        steps = [
            f"read deg C (data.format={reading.format}: thermal_icas.core.data.temperature), "
            f"map [{low:g}, {high:g}] deg C to [0, 1], clipped, in all 3 channels"
        ]
    else:
        steps = ["decode as RGB in [0, 1] (thermal_icas.core.data.imageio.load_rgb)"]
    if reading.palette is not None:
        steps.append("palette: each pixel to its position on the palette, in all 3 channels")
    steps.append("mask at native resolution; background pixels take mask.background_rgb")
    if preprocessor.normalize == "face":
        steps.append(
            "standardise the face's pixels (all channels alike) to mean 0.5 and spread 0.15, "
            "clipped to [0, 1] (thermal_icas.core.data.preprocess.standardize_face)"
        )
    if preprocessor.on_midline:
        steps.append(
            "turn upright and pad so that the face's midline is the centre column "
            "(thermal_icas.core.asymmetry.align_on_midline)"
        )
    steps.append(f"resize to {size}x{size} (cv2.INTER_AREA), round to uint8")
    steps.append("divide by 255, subtract normalisation.mean, divide by normalisation.std")
    return steps
