"""Config values computed from other config values (OmegaConf resolvers). `register()` runs
where a run's config is composed or read back (`config`, `trained_run`)."""

from __future__ import annotations

from omegaconf import OmegaConf

from thermal_icas.core.models.backbones import normalization


def backbone_norm(backbone: str, which: str) -> list[float]:
    """`${backbone_norm:<model.backbone>,mean|std}`: what the backbone's weights expect."""
    mean, std = normalization(backbone)
    return list(mean if which == "mean" else std)


def register() -> None:
    if not OmegaConf.has_resolver("backbone_norm"):
        OmegaConf.register_new_resolver("backbone_norm", backbone_norm)
