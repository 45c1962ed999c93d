"""The folder a command-line run writes into, settled before Hydra writes anything there.

Hydra writes the run's `.hydra/` files into its folder as it starts, so these rules are applied
to the command line first:
- a new run gets a folder of its own, also when another run starts in the same second;
- a run aimed (`hydra.run.dir=`) at a folder that holds files already stops: those belong to
  another run, and a finished run's folder is never written into; what Hydra writes as a run
  starts (`.hydra/`, the job's log) is no run's work, so a run stopped by a check of its
  settings leaves a folder that a corrected command reuses, also with `resume=`;
- a folder that cannot be created (a file is in the way, no permission) stops the command;
- `resume=<dir|latest>` continues a run as it was configured: its saved overrides are used,
  and an override on the command line that is not among them stops the command;
- a run still going (marked by its `.running` file) is neither resumed nor picked as latest.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from thermal_icas.core import run_files
from thermal_icas.core.errors import ConfigError
from thermal_icas.train.config import project_root

RUN_DIR = "hydra.run.dir"
RESUME = "resume"
HYDRA = ("hydra.", "hydra/")


def prepare_run_argv(argv: Sequence[str], config_name: str, resumable: bool = True) -> list[str]:
    """argv with the run folder settled (`hydra.run.dir=`) and, to resume, the run's own
    overrides; a ConfigError says why a command may not run. Overrides that do not parse or
    compose are left to Hydra, which reports them (with the available options)."""
    if os.environ.get("LOCAL_RANK", "0") != "0":
        # a DDP process Lightning started: it joins the folder its rank 0 has settled
        return list(argv)
    overrides = list(argv[1:])
    if any(arg.startswith("-") for arg in overrides):
        # -m sweeps name their job folders themselves; --help, --cfg and the like write none
        if resumable and any(arg.startswith(f"{RESUME}=") for arg in overrides):
            raise ConfigError("resume= continues one run; it does not go with Hydra's flags (-m)")
        return list(argv)
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException:
        refuse_unquoted(overrides)
        return list(argv)
    values = {override.key_or_group: override.value() for override in parsed}
    resume = values.get(RESUME) if resumable else None
    if resume not in (None, "null"):
        return [argv[0], *_resume_overrides(parsed, str(resume), config_name)]
    target = values.get(RUN_DIR)
    if target is not None:
        folder = Path(str(target)).expanduser()
        refuse_occupied(folder)
        make_folder(folder)
        return list(argv)
    try:
        run_dir = _composed_run_dir(overrides, config_name)
    except (HydraException, OmegaConfBaseException):
        return list(argv)
    return [*argv, hydra_value(RUN_DIR, claim_new_folder(Path(run_dir)))]


def make_folder(folder: Path) -> None:
    """The run folder, or one line naming it and what is in the way."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        blocker = next((p for p in (folder, *folder.parents) if p.exists()), None)
        if blocker is not None and not blocker.is_dir():
            reason = "it is a file" if blocker == folder else f"'{blocker}' is a file"
        else:
            reason = error.strerror or str(error)
        raise ConfigError(f"the run folder '{folder}' cannot be created: {reason}") from None


# characters of a regular expression (or path) that Hydra's override grammar reads as its own
_GRAMMAR = re.compile(r"[\^$()\[\]{}|*+?,\\]")


def refuse_unquoted(overrides: Sequence[str]) -> None:
    """An override Hydra cannot parse because its value holds grammar characters unquoted
    (a regex: `data.patient_regex=^(P\\d+)`) gets how to quote it; others are Hydra's to report."""
    parser = OverridesParser.create()
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not _GRAMMAR.search(value) or value[:1] in "'\"":
            continue
        try:
            parser.parse_override(override)
        except HydraException:
            raise ConfigError(
                f"{key}={value}: Hydra reads characters such as ^ ( [ \\ as its own; quote the "
                f"value for Hydra and the whole override for the shell: \"{key}='{value}'\""
            ) from None


def hydra_value(key: str, path: Path) -> str:
    """`key='path'`, quoted for Hydra's override parser (a path may hold `(`, `,`, spaces).

    In a quoted value a backslash escapes only a quote or the closing quote, so only the
    backslashes right before those are doubled."""
    doubled = re.sub(r"(\\+)(?='|$)", lambda run: run.group(1) * 2, str(path))
    escaped = doubled.replace("'", "\\'")
    return f"{key}='{escaped}'"


def refuse_finished(folder: Path) -> None:
    """Nothing a finished run wrote is overwritten, by a new run or by resuming it."""
    if (folder / run_files.METRICS).exists():
        raise ConfigError(
            f"'{folder}' holds a finished run ({run_files.METRICS}); nothing of it is overwritten: "
            "start the new run in another folder"
        )


@contextmanager
def running_in(folder: Path) -> Iterator[None]:
    """Marks folder as in use by this process (host and pid) while the run lasts; a killed
    run's mark names a process that no longer exists and counts for nothing."""
    refuse_running(folder)
    marker = folder / run_files.RUNNING
    marker.write_text(f"{socket.gethostname()} {os.getpid()}\n")
    try:
        yield
    finally:
        marker.unlink(missing_ok=True)


def running_elsewhere(folder: Path) -> str | None:
    """'host pid' of another live process that runs in folder, else None. A process on
    another host cannot be checked from here and counts as live."""
    try:
        host, pid = (folder / run_files.RUNNING).read_text().split()
    except (FileNotFoundError, ValueError):
        return None
    if host == socket.gethostname():
        if int(pid) == os.getpid():
            return None
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
    return f"{host} {pid}"


def refuse_running(folder: Path) -> None:
    owner = running_elsewhere(folder)
    if owner is not None:
        raise ConfigError(
            f"'{folder}' is in use by a run that is still going (process {owner}); if that run "
            f"is dead, delete {folder / run_files.RUNNING}"
        )


def holds_work(folder: Path) -> bool:
    """Whether folder holds anything but what Hydra writes as a run starts (and `.running`,
    which `running_in` checks): a run that stopped before its work began has none."""
    started = {run_files.HYDRA_DIR.name, run_files.RUNNING}
    return any(
        entry.name not in started and not entry.match(run_files.JOB_LOG_GLOB)
        for entry in folder.iterdir()
    )


def refuse_occupied(folder: Path) -> None:
    refuse_finished(folder)
    if folder.is_dir():
        refuse_running(folder)
    if folder.is_dir() and holds_work(folder):
        raise ConfigError(
            f"'{folder}' already holds files of another run: continue it with resume={folder}, "
            "or give the new run an empty or new folder"
        )


def claim_new_folder(path: Path) -> Path:
    """path, or path_2, path_3, ... : the first that this call creates itself."""
    make_folder(path.parent)
    candidate, number = path, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            number += 1
            candidate = path.with_name(f"{path.name}_{number}")
        except OSError:
            make_folder(candidate)  # says why


def resolve_resume(value: str, runs_dir: Path) -> Path:
    """`latest`: the newest run folder under runs_dir that has no metrics.json yet."""
    if value == "latest":
        unfinished = [
            d
            for d in runs_dir.glob("*")
            if (d / run_files.OVERRIDES).is_file()
            and not (d / run_files.METRICS).exists()
            and running_elsewhere(d) is None
        ]
        if not unfinished:
            raise ConfigError(
                f"resume=latest: no unfinished run folder under '{runs_dir}' that is not running"
            )
        return max(unfinished, key=lambda d: d.stat().st_mtime)
    path = Path(value).expanduser().resolve()
    if not (path / run_files.OVERRIDES).is_file():
        raise ConfigError(f"resume='{value}' is not a run folder (no {run_files.OVERRIDES})")
    return path


def _resume_overrides(parsed: list[Override], value: str, config_name: str) -> list[str]:
    """The run's saved overrides (as written, unresolved); Hydra's own settings
    (`hydra.*`, `hydra/...`) may be given anew, the run's may not."""
    given: list[str] = []
    hydra: list[str] = []
    for override in parsed:
        key = override.key_or_group
        if key not in (RESUME, RUN_DIR):
            (hydra if key.startswith(HYDRA) else given).append(override.input_line)
    if value == "latest":
        try:
            runs_dir = Path(_composed_run_dir(given, config_name)).parent
        except (HydraException, OmegaConfBaseException) as error:
            raise ConfigError(
                f"resume=latest: the settings given do not compose: {error}"
            ) from None
        folder = resolve_resume(value, runs_dir)
    else:
        folder = resolve_resume(value, Path())
    refuse_finished(folder)
    refuse_running(folder)
    saved = OmegaConf.to_container(OmegaConf.load(folder / run_files.OVERRIDES), resolve=False)
    assert isinstance(saved, list)
    parser = OverridesParser.create()
    saved = [str(arg) for arg in saved if parser.parse_override(str(arg)).key_or_group != RESUME]
    changed = [arg for arg in given if arg not in saved]
    if changed and not holds_work(folder):
        # it stopped before any work (a setting's check): it starts over with the change
        keys = {parser.parse_override(arg).key_or_group for arg in changed}
        kept = [arg for arg in saved if parser.parse_override(arg).key_or_group not in keys]
        saved = [*kept, *changed]
    elif changed:
        raise ConfigError(
            f"resume continues '{folder}' as it was configured ({' '.join(saved) or 'defaults'}); "
            f"{' '.join(changed)} would change it: start a new run for other settings"
        )
    return [*saved, *hydra, hydra_value(RESUME, folder), hydra_value(RUN_DIR, folder)]


def _composed_run_dir(overrides: list[str], config_name: str) -> str:
    """The run folder Hydra would choose for these overrides (a time stamp of now)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(project_root() / "conf"), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    GlobalHydra.instance().clear()
    return str(cfg.hydra.run.dir)
