"""Which folder a command-line run writes into, settled before Hydra writes there."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from thermal_icas.core import run_files
from thermal_icas.core.errors import ConfigError
from thermal_icas.train.run_folder import (
    claim_new_folder,
    hydra_value,
    prepare_run_argv,
    running_in,
)


def _run_dir(argv: list[str]) -> Path:
    parsed = OverridesParser.create().parse_overrides([a for a in argv[1:] if a[0] != "-"])
    (value,) = [o.value() for o in parsed if o.key_or_group == "hydra.run.dir"]
    return Path(value)


def _crashed_run(folder: Path, overrides: list[str]) -> Path:
    """A run folder as a crashed run leaves it: Hydra's files and the splits, no metrics.json."""
    (folder / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), folder / ".hydra" / "overrides.yaml")
    (folder / run_files.SPLITS).write_text("path,patient,label,split\n")
    return folder


def _stopped_by_a_check(folder: Path, overrides: list[str]) -> Path:
    """A run folder as a run stopped by a check of its settings leaves it: Hydra's files."""
    (folder / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create(overrides), folder / ".hydra" / "overrides.yaml")
    (folder / "train.log").write_text("error: training.finetune.batch_size=0 is not accepted\n")
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


def test_a_run_stopped_by_a_settings_check_leaves_a_folder_that_is_reused(
    tmp_path: Path,
) -> None:
    saved = ["experiment=smoke", "training.finetune.batch_size=0"]
    folder = _stopped_by_a_check(tmp_path / "run", saved)
    again = ["train.py", "experiment=smoke", f"hydra.run.dir={folder}"]
    assert prepare_run_argv(again, "train") == again
    # resume= takes the correction: such a run did no work that a change could break
    argv = prepare_run_argv(
        ["train.py", "training.finetune.batch_size=16", f"resume={folder}"], "train"
    )
    assert argv[1:3] == ["experiment=smoke", "training.finetune.batch_size=16"]
    assert _run_dir(argv) == folder
    # a run that got as far as its data is a run: resume it as it was, or start elsewhere
    (folder / run_files.SPLITS).write_text("path,patient,label,split\n")
    with pytest.raises(ConfigError, match="already holds files of another run"):
        prepare_run_argv(again, "train")
    with pytest.raises(ConfigError, match=r"training\.finetune\.batch_size=16 would change it"):
        prepare_run_argv(
            ["train.py", "training.finetune.batch_size=16", f"resume={folder}"], "train"
        )


@pytest.mark.parametrize("script", ["train", "predict", "export"])
def test_a_run_folder_that_cannot_be_created_is_named_in_one_line(
    tmp_path: Path, script: str
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    resumable = script == "train"
    cases = {
        f"hydra.run.dir={blocker}": f"'{blocker}' cannot be created: it is a file",
        f"hydra.run.dir={blocker / 'run'}": f"cannot be created: '{blocker}' is a file",
        f"paths.log_dir={blocker}": f"'{blocker}' is a file",
    }
    for override, message in cases.items():
        with pytest.raises(ConfigError, match=re.escape(message)):
            prepare_run_argv([f"{script}.py", override], script, resumable)


def test_a_folder_without_permission_is_named(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):
        pytest.skip("running as a user who may write anywhere")
    with pytest.raises(ConfigError, match=f"'{locked / 'run'}' cannot be created: Permission"):
        prepare_run_argv(["train.py", f"hydra.run.dir={locked / 'run'}"], "train")


def test_an_unquoted_regex_gets_how_to_quote_it() -> None:
    argv = ["train.py", r"data.patient_regex=^(P\d+)"]
    with pytest.raises(ConfigError) as raised:
        prepare_run_argv(argv, "train")
    quoted = "\"data.patient_regex='^(P\\d+)'\""
    assert str(raised.value).startswith("data.patient_regex=") and quoted in str(raised.value)
    # the quoted form is what Hydra reads whole
    assert OverridesParser.create().parse_override(quoted.strip('"')).value() == r"^(P\d+)"
    # an override that fails for another reason is left to Hydra, which names it
    assert prepare_run_argv(["train.py", "seed=="], "train") == ["train.py", "seed=="]


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no /proc on this system")
def test_a_folder_the_system_will_not_create_is_named() -> None:
    with pytest.raises(ConfigError, match="the run folder '/proc/x' cannot be created"):
        prepare_run_argv(["train.py", "hydra.run.dir=/proc/x"], "train")


def _train_cli(*overrides: str) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[1]
    return subprocess.run(
        [sys.executable, str(root / "train.py"), *overrides],
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.slow
def test_a_corrected_command_runs_where_a_settings_check_stopped_it(tmp_path: Path) -> None:
    base = ["experiment=smoke", "debug=fast", "threads=1", f"paths.cache_dir={tmp_path / 'c'}"]
    for folder, again in (
        (tmp_path / "same", ["training.finetune.batch_size=8", *base]),
        (tmp_path / "resumed", ["training.finetune.batch_size=8"]),
    ):
        failed = _train_cli(*base, "training.finetune.batch_size=0", f"hydra.run.dir={folder}")
        assert failed.returncode == 1
        assert failed.stderr.strip().splitlines()[-1] == (
            "error: training.finetune.batch_size=0 is not accepted: use an integer of at least 1"
        )
        assert (folder / run_files.OVERRIDES).is_file()
        place = f"hydra.run.dir={folder}" if folder.name == "same" else f"resume={folder}"
        result = _train_cli(*again, place)
        assert result.returncode == 0, result.stderr[-2000:]
        assert (folder / run_files.METRICS).is_file()
        saved = OmegaConf.load(folder / run_files.OVERRIDES)
        assert "training.finetune.batch_size=8" in saved
