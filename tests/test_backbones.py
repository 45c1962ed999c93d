"""The backbone protocol: torchvision ResNets keep their numbers and names, any timm CNN or
vision transformer runs in four stages that the levers, explanations and export can use."""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import timm
import torch
from omegaconf import OmegaConf
from torchvision import models

from tests.conftest import ComposeFn, make_toy_dataset
from thermal_icas.analysis.export import export_run
from thermal_icas.analysis.inference import predict
from thermal_icas.analysis.trained_run import load_run
from thermal_icas.core import run_files
from thermal_icas.core.asymmetry import Asymmetry
from thermal_icas.core.errors import ConfigError, PretrainedWeightsError
from thermal_icas.core.explain.maps import explain_batch
from thermal_icas.core.models import ThermalClassifier, ThermalEncoder
from thermal_icas.core.models.attention import Attention
from thermal_icas.core.models.backbones import STAGES, build_trunk, normalization
from thermal_icas.core.models.encoder import explain_layer
from thermal_icas.train.pipeline import run

# timm's own test models: tens of thousands of weights, built in milliseconds
TINY_CNN = "test_efficientnet"
TINY_VIT = "test_vit"


def test_the_resnet_trunk_is_torchvisions_resnet_under_its_old_names() -> None:
    torch.manual_seed(0)
    reference = models.resnet18(weights=None).eval()
    torch.manual_seed(0)
    encoder = ThermalEncoder("resnet18").eval()
    names = {key.split(".")[1] for key in encoder.state_dict()}
    assert names == {"stem", *STAGES}
    assert "trunk.stem.0.weight" in encoder.state_dict()
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        pooled = torch.flatten(
            reference.avgpool(torch.nn.Sequential(*list(reference.children())[:-2])(images)), 1
        )
        torch.testing.assert_close(encoder(images), pooled, rtol=0, atol=0)


@pytest.mark.parametrize("name", ["test_convnext", TINY_CNN, TINY_VIT])
def test_timm_stages_are_the_models_own_feature_levels(name: str) -> None:
    trunk = build_trunk(f"timm:{name}").eval()
    images = torch.randn(2, 3, 64, 64)
    seen: dict[str, torch.Tensor] = {}

    def visit(stage: str, x: torch.Tensor) -> torch.Tensor:
        seen[stage] = x
        return x

    with torch.no_grad():
        plain = trunk(images)
        visited = trunk(images, visit)
        modules = [level["module"] for level in trunk.model.feature_info]
        indices = [modules.index(trunk.modules_of[stage]) for stage in STAGES]
        levels = trunk.model.forward_intermediates(images, indices=indices, intermediates_only=True)
    torch.testing.assert_close(visited, plain)
    assert list(seen) == list(STAGES)
    for (stage, x), level in zip(seen.items(), levels, strict=True):
        assert x.shape[1] == trunk.channels[stage]
        assert x.shape[-1] == 64 // trunk.reductions[stage]
        # the map handed to the levers is the model's own feature level
        torch.testing.assert_close(x, level)
    assert plain.shape == (2, trunk.width)


@pytest.mark.parametrize("name", [TINY_CNN, TINY_VIT])
def test_a_visit_that_changes_a_map_changes_the_features(name: str) -> None:
    """The hooks carry the visited map on: a gate or a capture is part of the graph."""
    trunk = build_trunk(f"timm:{name}").eval()
    images = torch.randn(2, 3, 64, 32)  # a half face: not square
    with torch.no_grad():
        plain = trunk(images)
        zeroed = trunk(images, lambda stage, x: torch.zeros_like(x) if stage == "layer3" else x)
    assert plain.shape == zeroed.shape == (2, trunk.width)
    assert (plain - zeroed).abs().max() > 1e-3


@pytest.mark.parametrize("name", [TINY_CNN, TINY_VIT])
def test_a_copied_trunk_visits_its_own_stages(name: str) -> None:
    trunk = build_trunk(f"timm:{name}").eval()
    copy = deepcopy(trunk)
    seen: list[str] = []
    with torch.no_grad():
        copy(torch.randn(1, 3, 64, 64), lambda stage, x: seen.append(stage) or x)
    assert seen == list(STAGES)


@pytest.mark.parametrize("name", [TINY_CNN, TINY_VIT])
def test_levers_and_captures_work_on_timm_trunks(name: str) -> None:
    for fusion in ("siamese", "early", "difference"):
        encoder = ThermalEncoder(
            f"timm:{name}", asymmetry=Asymmetry(fusion), attention=Attention("layer3")
        )
        output = encoder.forward_maps(torch.randn(2, 3, 64, 64), capture="layer4")
        assert output.features.shape == (2, encoder.out_dim)
        assert output.gate is not None and output.captured is not None
        torch.testing.assert_close(output.gate.mean((2, 3)), torch.ones(len(output.gate), 1))
        output.features.sum().backward()
        assert encoder.attention.score[0].weight.grad is not None


def test_the_widened_stem_keeps_the_convolutions_kind() -> None:
    """tf_ EfficientNets pad as TensorFlow does (Conv2dSame): the 6-channel stem must too."""
    encoder = ThermalEncoder("timm:tf_efficientnet_b0", asymmetry=Asymmetry("early"))
    stem = encoder.trunk.model.conv_stem
    assert type(stem).__name__ == "Conv2dSame" and stem.in_channels == 6


def test_explain_auto_on_a_transformer_takes_its_deepest_stage() -> None:
    vit = build_trunk(f"timm:{TINY_VIT}")
    assert explain_layer("auto", 64, vit.reductions) == "layer4"
    assert [explain_layer("auto", size) for size in (32, 64, 224)] == [
        "layer1",
        "layer2",
        "layer4",
    ]


def test_normalisation_follows_the_pretrained_config(compose_cfg: ComposeFn) -> None:
    assert normalization("resnet50")[0] == (0.485, 0.456, 0.406)
    cfg = compose_cfg(["model=timm", f"model.name={TINY_VIT}"])
    expected = timm.get_pretrained_cfg(TINY_VIT)
    assert list(cfg.data.mean) == list(expected.mean) and list(cfg.data.std) == list(expected.std)
    assert list(compose_cfg([]).data.mean) == [0.485, 0.456, 0.406]


def test_timm_weights_from_a_file_and_clear_errors(tmp_path: Path) -> None:
    reference = timm.create_model(TINY_CNN)
    torch.save(reference.state_dict(), tmp_path / "weights.pth")
    loaded = build_trunk(f"timm:{TINY_CNN}", str(tmp_path / "weights.pth"))
    torch.testing.assert_close(loaded.model.conv_stem.weight, reference.conv_stem.weight)
    with pytest.raises(PretrainedWeightsError, match="neither 'none', 'imagenet'"):
        build_trunk(f"timm:{TINY_CNN}", str(tmp_path / "missing.pth"))
    with pytest.raises(PretrainedWeightsError, match=f"into {TINY_VIT}"):
        build_trunk(f"timm:{TINY_VIT}", str(tmp_path / "weights.pth"))
    with pytest.raises(ConfigError, match=r"model\.name='convnext_tinyy' is not a timm model"):
        build_trunk("timm:convnext_tinyy")


@pytest.mark.slow
@pytest.mark.parametrize("name", [TINY_CNN, TINY_VIT])
def test_a_timm_run_trains_explains_and_exports(
    compose_cfg: ComposeFn, tmp_path: Path, name: str
) -> None:
    """`model=timm` through the whole pipeline with both levers on, then predict with maps
    and an ONNX export that onnxruntime runs to the classifier's probabilities."""
    data_dir = make_toy_dataset(tmp_path / "toy", size=32)
    overrides = ["experiment=smoke", f"data.data_dir={data_dir}", "data.image_size=64"]
    levers = ["model=timm", f"model.name={name}", "asymmetry=on", "attention=on"]
    cfg = compose_cfg([*overrides, *levers])
    metrics = run(cfg)
    assert 0.0 <= metrics["test/patient/auroc"] <= 1.0
    out = Path(cfg.paths.output_dir)
    (out / run_files.CONFIG).parent.mkdir(exist_ok=True)
    OmegaConf.save(cfg, out / run_files.CONFIG)  # train.py's Hydra writes this file

    trained = load_run(out)
    predict(trained, data_dir, tmp_path / "pred", explain=True)
    assert list((tmp_path / "pred" / "explain").glob("*.png"))

    model = export_run(trained, tmp_path / "export")
    faces = torch.randn(3, 3, 64, 64)
    with torch.inference_mode():
        expected = trained.classifier(faces).softmax(-1).numpy()
    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    (probabilities,) = session.run(None, {session.get_inputs()[0].name: faces.numpy()})
    assert np.abs(probabilities - expected).max() < 1e-4


def test_the_same_resnet_weights_give_the_same_features_and_maps_through_either_provider() -> None:
    """timm's resnet18 holding torchvision's weights: the hooks change nothing the explanation
    or the siamese halves see (a map that differs by provider would be the provider's doing)."""
    torch.manual_seed(0)
    torchvision_encoder = ThermalEncoder("resnet18", asymmetry=Asymmetry()).eval()
    timm_encoder = ThermalEncoder("timm:resnet18", asymmetry=Asymmetry()).eval()
    renamed = {
        key.replace("stem.0.", "conv1.").replace("stem.1.", "bn1."): value
        for key, value in torchvision_encoder.trunk.state_dict().items()
    }
    timm_encoder.trunk.model.load_state_dict(renamed)
    faces = torch.randn(3, 3, 64, 64)
    classifiers = [ThermalClassifier(e, 2).eval() for e in (torchvision_encoder, timm_encoder)]
    classifiers[1].head.load_state_dict(classifiers[0].head.state_dict())
    maps = [explain_batch(c, faces, "layer2", "hirescam", None).cam for c in classifiers]
    with torch.no_grad():
        torch.testing.assert_close(timm_encoder(faces), torchvision_encoder(faces))
    torch.testing.assert_close(maps[1], maps[0])
