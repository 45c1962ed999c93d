"""Training throughput of the full pipeline against the model alone.

    python scripts/benchmark.py [--steps 30] [--warmup 5] [--rounds 3] [key=value ...]

key=value pairs are Hydra overrides of conf/train.yaml; the defaults measure 128 px images,
batch 32, ResNet-18 on the CPU (`data.image_size=128 training.finetune.batch_size=32
trainer=cpu`); pass `trainer=gpu` for the GPU (bf16, channels-last, pinned memory, loader
workers), `data.data_dir=...` for real images.

(a) pipeline: stage-2 training steps through Lightning, fed by the run's own loader
    (preprocessed images cached in memory, augmentation on the fly);
(b) model: forward, backward and optimizer step of the same classifier on a random batch of
    the same shape that already sits on the device, at the same precision.
Each round measures (a) and then (b), so the two rates of a round share the machine's state
at that time; on a shared machine they drift together, and the round with the median ratio is
reported. The last lines are that round's `pipeline_img_s=` and `model_img_s=`, and
`ratio=` (pipeline / model).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig

from thermal_icas.train.callbacks.training import ChannelsLastOnGPU
from thermal_icas.train.config import compose_config
from thermal_icas.train.datamodule import ThermalData
from thermal_icas.train.lit.classifier import ClassifierModule
from thermal_icas.train.lit.stages import classifier_module

DEFAULTS = ["data.image_size=128", "training.finetune.batch_size=32", "trainer=cpu"]


class StepTimer(Callback):
    """Wall time from the start of step `warmup` to the end of step `last`.

    The device is synchronised only at those two points, as in the model-alone loop, so the
    host may queue work ahead of the GPU as it does in a real run.
    """

    def __init__(self, warmup: int, last: int) -> None:
        self.warmup = warmup
        self.last = last
        self.start = self.end = 0.0

    def on_train_batch_start(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.warmup:
            _sync(trainer.strategy.root_device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer: L.Trainer, *args: object) -> None:
        if trainer.global_step == self.last:
            _sync(trainer.strategy.root_device)
            self.end = time.perf_counter()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _stage2(cfg: DictConfig, data: ThermalData) -> ClassifierModule:
    """The run's own stage-2 module, with a freshly initialised encoder."""
    return classifier_module(cfg, data, instantiate(cfg.model.encoder))


def pipeline_rate(cfg: DictConfig, data: ThermalData, steps: int, warmup: int) -> float:
    batch = cfg.training.finetune.batch_size
    timer = StepTimer(warmup, warmup + steps)
    trainer = instantiate(
        cfg.trainer,
        max_epochs=-1,
        max_steps=warmup + steps,
        callbacks=[timer, ChannelsLastOnGPU()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    loader = data.for_stage(batch).loader("train", train=True)
    trainer.fit(_stage2(cfg, data), train_dataloaders=loader)
    return steps * batch / (timer.end - timer.start)


def model_rate(cfg: DictConfig, data: ThermalData, steps: int, warmup: int) -> float:
    batch = cfg.training.finetune.batch_size
    module = _stage2(cfg, data)
    device = torch.device("cuda" if cfg.trainer.accelerator == "gpu" else "cpu")
    fmt = torch.channels_last if device.type == "cuda" else torch.contiguous_format
    module = module.to(device, memory_format=fmt).train()
    optimizer = module.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    criterion = module.criterion
    images = torch.randn(
        batch, 3, data.preprocessor.image_size, data.preprocessor.image_size, device=device
    )
    images = images.to(memory_format=fmt)
    labels = torch.randint(0, 2, (batch,), device=device)
    start = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            _sync(device)
            start = time.perf_counter()
        with _autocast(device, str(cfg.trainer.precision)):
            loss = criterion(module(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return steps * batch / (time.perf_counter() - start)


@contextlib.contextmanager
def _autocast(device: torch.device, precision: str) -> Iterator[None]:
    if precision.startswith("bf16"):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            yield
    else:
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--rounds", type=int, default=3, help="paired measurements")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, key=value")
    args = parser.parse_intermixed_args()

    with tempfile.TemporaryDirectory() as out:
        cfg = compose_config([*DEFAULTS, *args.overrides], out)
        L.seed_everything(cfg.seed, workers=True)
        data: ThermalData = instantiate(cfg.data)
        started = time.perf_counter()
        data.setup()
        preprocess_s = time.perf_counter() - started
        rounds = []
        for number in range(1, args.rounds + 1):
            pipeline = pipeline_rate(cfg, data, args.steps, args.warmup)
            model = model_rate(cfg, data, args.steps, args.warmup)
            rounds.append((pipeline / model, pipeline, model))
            print(f"round {number}: pipeline {pipeline:.1f} img/s, model {model:.1f} img/s")
        _, pipeline, model = sorted(rounds)[(len(rounds) - 1) // 2]

    device = torch.cuda.get_device_name() if cfg.trainer.accelerator == "gpu" else "cpu"
    print(f"device={device} threads={torch.get_num_threads()} workers={data.num_workers}")
    print(
        f"image_size={data.preprocessor.image_size} batch={cfg.training.finetune.batch_size} "
        f"backbone={cfg.model.backbone} precision={cfg.trainer.precision}"
    )
    print(f"preprocess_s={preprocess_s:.1f} (decode + mask + resize, once per run)")
    print(f"pipeline_img_s={pipeline:.1f}")
    print(f"model_img_s={model:.1f}")
    print(f"ratio={pipeline / model:.3f}")


if __name__ == "__main__":
    main()
