"""DDP runs started from the command line, alone or as jobs of a sweep.

Lightning starts a run's extra processes by re-running the command line with the run's
`hydra.run.dir`. In a sweep (`-m`) that re-runs the sweep itself, into a second, newly timed
sweep folder, and under a launcher that runs jobs in worker processes (`hydra/launcher=local`)
the command line is the worker's, not the train command's. Each extra process instead runs
`python -m thermal_icas.cli train` once, with its job's own overrides, in its job's folder, and
leaves when the job is done.

Lightning also leaves the first job's process group, environment (`LOCAL_RANK`, ...) and
thread count behind in the process that runs the sweep's jobs one after another; the next job
would then wait for processes that nobody starts. Each job therefore ends with them cleared.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.distributed as dist
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_original_cwd
from lightning.pytorch.strategies.launchers import subprocess_script

from thermal_icas.train.run_folder import hydra_value

# what Lightning's launcher sets in the process that starts the others
LAUNCH_ENVIRONMENT = (
    "MASTER_ADDR",
    "MASTER_PORT",
    "NODE_RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "OMP_NUM_THREADS",
)


# how an extra process runs the train command (the same as `thermal-icas train`)
TRAIN_COMMAND = ("-m", "thermal_icas.cli", "train")


def job_command(local_rank: int) -> tuple[Sequence[str], str]:
    """The command line and working folder of the job's process `local_rank`: the config
    flags of the command line that started the job, Hydra's own overrides but those that
    place and name a run, and the job's overrides."""
    hydra = HydraConfig.get()
    placing = ("hydra.mode", "hydra.run.dir", "hydra.job.name", "hydra.output_subdir")
    command = [
        sys.executable,
        *TRAIN_COMMAND,
        *config_flags(sys.argv[1:]),
        *(arg for arg in hydra.overrides.hydra if not arg.startswith(placing)),
        *hydra.overrides.task,
        hydra_value("hydra.run.dir", Path(hydra.runtime.output_dir)),
        f"hydra.job.name=train_ddp_process_{local_rank}",
        # the job's .hydra/ files are rank 0's to write
        "hydra.output_subdir=null",
    ]
    return command, get_original_cwd()


def config_flags(args: Sequence[str]) -> list[str]:
    """Hydra's flags that choose the config (`--config-dir/-cd`, `--config-path/-cp`,
    `--config-name/-cn`), with their values, in `--flag value` or `--flag=value` form."""
    flags = ("--config-dir", "-cd", "--config-path", "-cp", "--config-name", "-cn")
    kept: list[str] = []
    for position, arg in enumerate(args):
        if arg in flags and position + 1 < len(args):
            kept += [arg, args[position + 1]]
        elif arg.startswith(tuple(f"{flag}=" for flag in flags)):
            kept.append(arg)
    return kept


def relaunch_ddp_processes_in_their_job() -> None:
    subprocess_script._hydra_subprocess_cmd = job_command


@contextmanager
def ddp_job() -> Iterator[None]:
    """One job: afterwards no process group and no launch environment of it remain."""
    saved = {name: os.environ.get(name) for name in LAUNCH_ENVIRONMENT}
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        # DDP on CPU lowers the thread count for its processes
        torch.set_num_threads(threads)
        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
