"""Which folder a command-line run writes into, settled before Hydra writes there."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from thermal_icas import run_files
from thermal_icas.errors import ConfigError
from thermal_icas.run_folder import claim_new_folder, hydra_value, prepare_run_argv, running_in


def _run_dir(argv: list[str]) -> Path:
    parsed = OverridesParser.create().parse_overrides([a for a in argv[1:] if a[0] != "-"])
    (value,) = [o.value() for o in parsed if o.key_or_group == "hydra.run.dir"]
    return Path(value)


def _crashed_run(folder: Path, overrides: list[str]) -> Path:
    """A run folder as Hydra leaves it, without metrics.json: the run did not finish."""
    (folder / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), folder / ".hydra" / "overrides.yaml")
    return folder


def test_a_new_run_gets_a_folder_of_its_own(tmp_path: Path) -> None:
    argv = ["train.py", "seed=3", f"paths.log_dir={tmp_path}"]
    first, second = prepare_run_argv(argv, "train"), prepare_run_argv(argv, "train")
    assert first[:-1] == second[:-1] == argv
    assert _run_dir(first) != _run_dir(second)
    assert _run_dir(first).parent == tmp_path / "train" / "runs"
    assert _run_dir(first).is_dir() and _run_dir(second).is_dir()


def test_runs_started_in_the_same_second_do_not_share_a_folder(tmp_path: Path) -> None:
    same = tmp_path / "runs" / "2026-01-01_00-00-00"
    assert claim_new_folder(same) == same
    assert claim_new_folder(same) == same.with_name(f"{same.name}_2")
    assert claim_new_folder(same) == same.with_name(f"{same.name}_3")


def test_a_folder_holding_another_runs_files_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["train.py", f"hydra.run.dir={empty}"]
    assert prepare_run_argv(argv, "train") == argv
    _crashed_run(tmp_path / "used", ["seed=1"])
    with pytest.raises(ConfigError, match="already holds files of another run: continue it"):
        prepare_run_argv(["train.py", f"hydra.run.dir={tmp_path / 'used'}"], "train")
    (tmp_path / "used" / "metrics.json").write_text("{}")
    with pytest.raises(ConfigError, match="holds a finished run"):
        prepare_run_argv(["train.py", f"hydra.run.dir={tmp_path / 'used'}"], "predict", False)


def test_resume_continues_the_run_as_it_was_configured(tmp_path: Path) -> None:
    saved = [
        "experiment=smoke",
        "seed=7",
        "training.finetune.epochs=${training.contrastive.epochs}",
    ]
    folder = _crashed_run(tmp_path / "run (1)", saved)
    place = [hydra_value("resume", folder), hydra_value("hydra.run.dir", folder)]
    assert prepare_run_argv(["train.py", f"resume='{folder}'"], "train") == [
        "train.py",
        *saved,
        *place,
    ]
    again = prepare_run_argv(
        ["train.py", "seed=7", "hydra.verbose=true", f"resume='{folder}'"], "train"
    )
    assert again == ["train.py", *saved, "hydra.verbose=true", *place]
    with pytest.raises(ConfigError, match=r"seed=7 .*\); seed=8 would change it"):
        prepare_run_argv(["train.py", "seed=8", f"resume='{folder}'"], "train")


def test_folder_names_that_need_quoting_reach_hydra_whole(tmp_path: Path) -> None:
    argv = prepare_run_argv(["train.py", f"paths.log_dir='{tmp_path / 'a (1), b'}'"], "train")
    assert _run_dir(argv).parent == tmp_path / "a (1), b" / "train" / "runs"
    finished = _crashed_run(tmp_path / "done", [])
    (finished / "metrics.json").write_text("{}")
    for given in (f"hydra.run.dir='{finished}'", f"++hydra.run.dir={finished}"):
        with pytest.raises(ConfigError, match="holds a finished run"):
            prepare_run_argv(["predict.py", given], "predict", resumable=False)


def test_resume_latest_looks_where_the_runs_of_these_settings_go(tmp_path: Path) -> None:
    log_dir = [f"paths.log_dir={tmp_path / 'logs'}"]
    runs = tmp_path / "logs" / "ablation" / "runs"
    _crashed_run(runs / "2026-01-01_00-00-00", ["experiment=ablation", *log_dir])
    finished = _crashed_run(runs / "2026-01-02_00-00-00", ["experiment=ablation", *log_dir])
    (finished / "metrics.json").write_text("{}")
    (runs / "2026-01-03_00-00-00").mkdir()  # a run that died before Hydra wrote its files
    argv = prepare_run_argv(["train.py", "experiment=ablation", *log_dir, "resume=latest"], "train")
    assert _run_dir(argv) == runs / "2026-01-01_00-00-00"
    with pytest.raises(ConfigError, match="no unfinished run folder"):
        prepare_run_argv(["train.py", *log_dir, "resume=latest"], "train")


def test_sweeps_and_the_processes_ddp_starts_are_left_as_they_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = ["train.py", "-m", "seed=1,2"]
    assert prepare_run_argv(sweep, "train") == sweep
    with pytest.raises(ConfigError, match="resume= continues one run"):
        prepare_run_argv([*sweep, "resume=latest"], "train")
    monkeypatch.setenv("LOCAL_RANK", "1")
    joining = ["train.py", "seed=1", f"hydra.run.dir={_crashed_run(tmp_path / 'job', [])}"]
    assert prepare_run_argv(joining, "train") == joining


def test_a_run_that_is_still_going_is_not_resumed(tmp_path: Path) -> None:
    runs = tmp_path / "logs" / "train" / "runs"
    log_dir = f"paths.log_dir={tmp_path / 'logs'}"
    older = _crashed_run(runs / "2026-01-01_00-00-00", [log_dir])
    newer = _crashed_run(runs / "2026-01-02_00-00-00", [log_dir])
    with running_in(newer):
        assert (newer / run_files.RUNNING).is_file()
        # as another process sees it: this test's parent stands in for the live run
        (newer / run_files.RUNNING).write_text(f"{socket.gethostname()} {os.getppid()}\n")
        latest = ["train.py", log_dir, "resume=latest"]
        assert _run_dir(prepare_run_argv(latest, "train")) == older
        with pytest.raises(ConfigError, match="is in use by a run that is still going"):
            prepare_run_argv(["train.py", f"resume={newer}"], "train")
    assert not (newer / run_files.RUNNING).exists()
    # a killed run's mark names a process that is gone
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    (newer / run_files.RUNNING).write_text(f"{socket.gethostname()} {gone.pid}\n")
    assert _run_dir(prepare_run_argv(["train.py", f"resume={newer}"], "train")) == newer


@pytest.mark.parametrize("name", ["a\\b", "end\\", "it's", "q\\'x", 'a "b", (c)', "ü ${x}"])
def test_folder_names_go_to_hydra_as_they_are(name: str) -> None:
    quoted = hydra_value("hydra.run.dir", Path("/runs") / name)
    assert OverridesParser.create().parse_override(quoted).value() == f"/runs/{name}"
