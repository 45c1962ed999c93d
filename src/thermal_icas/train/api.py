"""The old script's entry point, kept for its users, running the framework's one pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from thermal_icas.core import run_files
from thermal_icas.core.models.heads import ThermalClassifier
from thermal_icas.train.config import compose_config


class ContrastiveThermalClassifier:
    """`ContrastiveThermalClassifier(data_dir=...).run_full_training()` as in the old script.

    The arguments become Hydra overrides of `conf/train.yaml` (plus any in `overrides`), so
    the run is exactly `python train.py <those overrides>`: same defaults, same outputs.
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        output_dir: str | Path | None = None,
        use_asymmetry_analysis: bool = False,
        use_face_mask: bool = True,
        mask_type: str = "content_based",
        use_attention: bool = False,
        overrides: Sequence[str] = (),
    ) -> None:
        self.output_dir = None if output_dir is None else Path(output_dir)
        data = "null" if data_dir is None else str(Path(data_dir).expanduser())
        self.overrides = [
            "task_name=api",
            f"data.data_dir={data}",
            f"mask={mask_type if use_face_mask else 'none'}",
            f"asymmetry={'on' if use_asymmetry_analysis else 'off'}",
            f"attention={'on' if use_attention else 'off'}",
            *overrides,
        ]

    def config(self, skip_contrastive: bool = False) -> DictConfig:
        overrides = [*self.overrides, f"training.skip_contrastive={str(skip_contrastive).lower()}"]
        return compose_config(overrides, self.output_dir)

    def run_full_training(
        self, skip_contrastive: bool = False
    ) -> tuple[ThermalClassifier, dict[str, float]]:
        """Stage 1 (unless skipped), stage 2, test; the classifier and the test metrics."""
        from thermal_icas.train.pipeline import train_and_test
        from thermal_icas.train.run_folder import refuse_finished

        if self.output_dir is not None:
            # before the config is saved into it, as train.py checks before Hydra writes
            refuse_finished(self.output_dir)
        cfg = self.config(skip_contrastive)
        # where train.py's Hydra keeps it, so the run folder reads the same either way
        saved = Path(cfg.paths.output_dir) / run_files.CONFIG
        saved.parent.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(cfg, saved)
        return train_and_test(cfg)
