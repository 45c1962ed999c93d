"""Encoder, attention gate, initialisation and the stage-2 training modes."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision import models

from thermal_icas.core.errors import PretrainedWeightsError
from thermal_icas.core.models import (
    SpatialAttentionGate,
    ThermalClassifier,
    ThermalEncoder,
    build_resnet,
)
from thermal_icas.core.models.attention import Attention
from thermal_icas.core.models.backbones import resnet as backbone_module
from thermal_icas.core.models.checkpoint import load_encoder, save_encoder
from thermal_icas.train.lit.classifier import ClassifierModule


@pytest.mark.parametrize(("name", "width"), [("resnet18", 512), ("resnet50", 2048)])
def test_attention_width_follows_the_backbone(name: str, width: int) -> None:
    encoder = ThermalEncoder(name, attention=Attention("layer4"))
    assert encoder.out_dim == width
    first = encoder.attention.score[0]
    assert first.in_channels == width and first.out_channels == width // 2
    assert first.kernel_size == (3, 3) and encoder.attention.score[2].kernel_size == (1, 1)
    features = encoder(torch.randn(2, 3, 64, 64))
    assert features.shape == (2, width)


def test_attention_gate_redistributes_weight_over_positions() -> None:
    gate = SpatialAttentionGate(8, hidden_channels=3)
    assert gate.score[0].out_channels == 3
    features = torch.randn(2, 8, 5, 5)
    gated, attention = gate(features)
    assert attention.shape == (2, 1, 5, 5)
    assert attention.min() >= 0
    torch.testing.assert_close(attention.mean(dim=(2, 3)), torch.ones(2, 1))
    torch.testing.assert_close(gated, features * attention)


def test_attention_gate_cannot_scale_the_features_away() -> None:
    """Scores far below zero (where a sigmoid gate had collapsed) still leave the scale."""
    gate = SpatialAttentionGate(8, hidden_channels=3)
    with torch.no_grad():
        gate.score[2].weight.zero_()
        gate.score[2].bias.fill_(-30.0)
    features = torch.randn(2, 8, 5, 5)
    gated, attention = gate(features)
    torch.testing.assert_close(attention, torch.ones_like(attention))
    torch.testing.assert_close(gated, features)


def test_the_gate_starts_as_plain_average_pooling() -> None:
    torch.manual_seed(0)
    gated = ThermalEncoder(attention=Attention("layer3")).eval()
    plain = ThermalEncoder().eval()
    plain.load_state_dict(gated.state_dict(), strict=False)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = gated.forward_maps(x, capture="layer3")
        torch.testing.assert_close(out.features, plain(x))
    assert out.gate is not None and out.gate.shape == (2, 1, 4, 4)  # layer4 would be 2x2
    torch.testing.assert_close(out.gate, torch.ones_like(out.gate))
    with pytest.raises(ValueError, match=r"attention\.layer='layer2'"):
        Attention("layer2")


def test_gate_scores_are_bounded() -> None:
    gate = SpatialAttentionGate(8, hidden_channels=3, score_bound=2.0)
    with torch.no_grad():
        gate.score[2].weight.normal_(0, 100.0)
    _, attention = gate(torch.randn(2, 8, 5, 5))
    ratio = attention.flatten(1).amax(1) / attention.flatten(1).amin(1)
    assert float(ratio.max()) <= math.exp(2 * 2.0) * 1.0001
    assert float(ratio.min()) > 10, "a strong score still moves the weight"


def _sgd_module(classifier: ThermalClassifier) -> ClassifierModule:
    """Full fine-tuning with SGD at 0.1, the trunk at a tenth of it."""
    return ClassifierModule(
        classifier,
        functools.partial(torch.optim.SGD, lr=0.1),
        class_weights=[1.0, 1.0],
        positive_index=1,
        backbone_lr_scale=0.1,
    )


def test_the_gate_trains_at_the_trunks_learning_rate() -> None:
    classifier = ThermalClassifier(ThermalEncoder(attention=Attention("layer4")), dropout=0.0)
    module = _sgd_module(classifier)
    head, trunk = module.configure_optimizers().param_groups
    gate = {id(p) for p in classifier.encoder.attention.parameters()}
    assert gate <= {id(p) for p in trunk["params"]} and trunk["lr"] == pytest.approx(0.01)
    assert not gate & {id(p) for p in head["params"]}


def test_pretrained_from_file_and_clear_errors(tmp_path: Path) -> None:
    reference = models.resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "weights.pth")
    loaded = build_resnet("resnet18", str(tmp_path / "weights.pth"))
    torch.testing.assert_close(loaded.conv1.weight, reference.conv1.weight)
    with pytest.raises(PretrainedWeightsError, match="neither 'none', 'imagenet'"):
        build_resnet("resnet18", str(tmp_path / "missing.pth"))
    with pytest.raises(PretrainedWeightsError, match="does not fit resnet50"):
        build_resnet("resnet50", str(tmp_path / "weights.pth"))
    with pytest.raises(ValueError, match=r"model\.backbone='resnet7'"):
        build_resnet("resnet7", "none")


def test_imagenet_without_internet_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(weights: object = None) -> None:
        raise OSError("no network")

    weights = backbone_module.BACKBONES["resnet18"][1]
    monkeypatch.setitem(backbone_module.BACKBONES, "resnet18", (offline, weights))
    with pytest.raises(PretrainedWeightsError, match=r"model\.pretrained=none"):
        build_resnet("resnet18", "imagenet")


def test_encoder_checkpoint_round_trip_and_mismatch(tmp_path: Path) -> None:
    encoder = ThermalEncoder(attention=Attention("layer4"))
    save_encoder(encoder, tmp_path / "checkpoints" / "encoder.pt")
    twin = ThermalEncoder(attention=Attention("layer4"))
    load_encoder(twin, tmp_path)
    for a, b in zip(encoder.state_dict().values(), twin.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    with pytest.raises(PretrainedWeightsError, match="trained as"):
        load_encoder(ThermalEncoder(), tmp_path)
    with pytest.raises(PretrainedWeightsError, match="no encoder checkpoint"):
        load_encoder(twin, tmp_path / "elsewhere")


class _RandomImages(Dataset):
    def __len__(self) -> int:
        return 16

    def __getitem__(self, index: int) -> dict:
        generator = torch.Generator().manual_seed(index)
        image = torch.randn(3, 32, 32, generator=generator) * 3 + 2
        return {"image": image, "label": index % 2, "index": index}


def _fit(mode: str) -> tuple[ThermalClassifier, dict[str, torch.Tensor]]:
    L.seed_everything(0)
    classifier = ThermalClassifier(ThermalEncoder(), dropout=0.0)
    before = {k: v.clone() for k, v in classifier.encoder.state_dict().items()}
    module = ClassifierModule(
        classifier,
        functools.partial(torch.optim.SGD, lr=0.1),
        class_weights=[1.0, 1.0],
        positive_index=1,
        mode=mode,
    )
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(module, DataLoader(_RandomImages(), batch_size=8))
    return classifier, before


@pytest.mark.slow
def test_linear_probe_keeps_encoder_and_batchnorm_statistics_fixed() -> None:
    classifier, before = _fit("linear")
    after = classifier.encoder.state_dict()
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, msg=key)
    head = classifier.head[1].weight
    assert head.requires_grad


@pytest.mark.slow
def test_full_finetune_updates_encoder_with_a_smaller_learning_rate() -> None:
    classifier, before = _fit("full")
    running = "trunk.stem.1.running_mean"
    assert not torch.allclose(classifier.encoder.state_dict()[running], before[running])
    module = _sgd_module(classifier)
    optimizer = module.configure_optimizers()
    assert [group["lr"] for group in optimizer.param_groups] == pytest.approx([0.1, 0.01])


def test_unknown_finetune_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"training\.finetune\.mode='partial'"):
        ClassifierModule(
            ThermalClassifier(ThermalEncoder()),
            functools.partial(torch.optim.SGD, lr=0.1),
            [1.0, 1.0],
            1,
            mode="partial",
        )
