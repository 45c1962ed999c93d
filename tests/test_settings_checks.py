"""Every setting that can be checked without the data is checked before any work starts,
with one line naming the setting and the values it accepts."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from tests.conftest import ComposeFn
from thermal_icas.core.data.transforms import AugmentConfig
from thermal_icas.core.errors import ConfigError
from thermal_icas.core.masks import EllipseMask, FaceMask, MaskResult
from thermal_icas.train.config import check_mask, check_settings

# override -> what the one line must say (the setting, and what it accepts)
BAD = {
    "training.finetune.batch_size=0": "training.finetune.batch_size=0 is not accepted: use an "
    "integer of at least 1",
    "training.contrastive.batch_size=1": "training.contrastive.batch_size=1 is not accepted: "
    "use an integer of at least 2",
    "training.finetune.batch_size=8.5": "training.finetune.batch_size=8.5",
    "training.contrastive.epochs=0": "training.contrastive.epochs=0",
    "training.finetune.epochs=-1": "training.finetune.epochs=-1",
    "training.finetune.optimizer.lr=0": "training.finetune.optimizer.lr=0 is not accepted: use "
    "a number above 0",
    "training.contrastive.optimizer.lr=-1e-3": "training.contrastive.optimizer.lr=-0.001",
    "training.finetune.patience=-1": "training.finetune.patience=-1",
    "data.split.val=0": "data.split.val=0 is not accepted: use a share in (0, 1]",
    "data.split.test=-0.1": "data.split.test=-0.1",
    "data.split.train=0.8": "data.split shares sum to 1.1, not 1",
    "data.num_folds=1": "data.num_folds=1 is not accepted: use null or an integer of at least 2",
    "data.num_folds=5 data.fold=5": "data.fold=5 is not accepted: use an integer in [0, 4]",
    "data.augment.crop_scale=[0.9,0.5]": "data.augment.crop_scale=[0.9, 0.5]",
    "data.augment.crop_scale=[0.5,1.5]": "data.augment.crop_scale=[0.5, 1.5]",
    "data.augment.blur_sigma=[0,1]": "data.augment.blur_sigma=[0, 1]",
    "data.augment.hflip_p=1.5": "data.augment.hflip_p=1.5 is not accepted: use a probability",
    "data.augment.rotation_degrees=-5": "data.augment.rotation_degrees=-5",
    "data.augment.noise_std=-0.1": "data.augment.noise_std=-0.1",
    "mask.method.threshold=1.5": "mask.method.threshold=1.5",
    "mask.method.min_coverage=0.9": "mask.method.min_coverage=0.9 is not accepted: use a share "
    "below mask.method.max_coverage=0.85",
    "mask.method.fallback.semi_axis_x=0": "mask.method.fallback.semi_axis_x=0",
    "mask=ellipse mask.method.semi_axis_y=1.2": "mask.method.semi_axis_y=1.2 is not accepted: "
    "use a share of the frame in (0, 1]",
    "mask=rectangle mask.method.width=0": "mask.method.width=0",
    "mask=adaptive mask.method.box_weight=2": "mask.method.box_weight=2",
    "eval.n_bootstrap=10": "eval.n_bootstrap=10 must be at least 100",
    "eval.ci_level=95": "eval.ci_level=95 must lie in (0, 1)",
    "asymmetry=on data.image_size=24": "use data.image_size=32 or more",
    "data.normalize=window": "data.normalize=window is not accepted: use dataset or face",
    "data.augment.camera=sometimes": "data.augment.camera=sometimes is not accepted: use true",
    "eval.shift_dir=/no/such/camera": "eval.shift_dir='/no/such/camera' does not exist",
    "clinical=fused eval.shift_dir=.": "eval.shift_dir scores images alone",
}


@pytest.mark.parametrize("overrides", list(BAD))
def test_a_bad_setting_is_named_before_any_work(compose_cfg: ComposeFn, overrides: str) -> None:
    cfg = compose_cfg(["experiment=smoke", *overrides.split()])
    with pytest.raises(ConfigError) as raised:
        check_settings(cfg)
    assert BAD[overrides] in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["experiment=cohort"],
        ["experiment=cv"],
        ["experiment=no_pretraining", "training.contrastive.batch_size=0"],
        ["asymmetry=on"],
        ["mask=ellipse"],
        ["mask=rectangle"],
        ["mask=adaptive"],
        ["mask=none"],
        ["training=linear_probe"],
        ["data.test_dir=elsewhere", "data.split.test=0"],
        ["data.augment.crop_scale=[1.0,1.0]", "data.augment.noise_std=0"],
        ["data.normalize=face", "data.augment.camera=true", "asymmetry=on"],
    ],
)
def test_the_presets_and_options_pass(compose_cfg: ComposeFn, overrides: list[str]) -> None:
    # experiment=smoke asymmetry=on: 32 x 16 halves are the smallest input that works
    check_settings(compose_cfg(["experiment=smoke", *overrides]))


class PixelBandMask(FaceMask):
    """A user's mask whose `width` is in pixels, not a share of the frame."""

    def __init__(self, width: int = 40) -> None:
        self.width = width

    def compute(self, image: np.ndarray) -> MaskResult:
        mask = np.zeros(image.shape[:2], np.float32)
        mask[:, : self.width] = 1.0
        return MaskResult(mask)


def test_each_mask_class_owns_its_ranges() -> None:
    """A parameter is checked by the class that has it: another class's `width` in pixels is
    not read as a share of the frame, and a mask made in Python checks its values too."""
    pixels = OmegaConf.create({"_target_": f"{__name__}.PixelBandMask", "width": 40})
    check_mask(pixels, "mask.method")
    share = OmegaConf.create({"_target_": "thermal_icas.core.masks.RectangleMask", "width": 40})
    with pytest.raises(ConfigError, match=r"^mask\.method\.width=40 is not accepted"):
        check_mask(share, "mask.method")
    with pytest.raises(ConfigError, match=r"^semi_axis_x=2 is not accepted: use a share"):
        EllipseMask(semi_axis_x=2)
    with pytest.raises(ConfigError, match=r"^data\.augment\.hflip_p=2 is not accepted"):
        AugmentConfig(hflip_p=2)
